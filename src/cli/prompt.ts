// A secret asked on the terminal without echo (sudo password for -K, a key's passphrase).
// The terminal is put in raw mode and kha reads the keys itself: readline echoes what is typed
// through an internal writer that cannot be muted (Node 20), so it is not used here. Plain
// questions with echo (kha init) do use readline: lineAsker.
import { createInterface } from 'node:readline/promises';
import { StringDecoder } from 'node:string_decoder';
import { ExitCode, InputError, KhaError } from '../errors.js';

export interface PromptStreams {
  input: NodeJS.ReadableStream & { isTTY?: boolean; isRaw?: boolean; setRawMode?(mode: boolean): unknown };
  output: NodeJS.WritableStream;
}

const ENTER = new Set(['\r', '\n']);
const ERASE = new Set(['\u007f', '\b']);

/**
 * Write `question`, read one line with echo off and return it. Backspace and Ctrl-U edit;
 * Ctrl-C rejects with an interrupted error (exit 130), Ctrl-D or the end of input with an
 * InputError. The terminal mode is restored on every path.
 */
export function askHidden(question: string, io: PromptStreams): Promise<string> {
  const { input, output } = io;
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw ?? false;
    const decoder = new StringDecoder('utf8');
    let answer = '';
    const done = (err?: Error) => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.setRawMode?.(wasRaw);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onEnd = () => done(new InputError(`no answer to "${question.trim()}": the input ended`));
    const onData = (chunk: Buffer | string) => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (ENTER.has(ch)) return done();
        if (ch === '\u0003') return done(new KhaError('interrupted', { code: 'E_INTERRUPTED', exit: ExitCode.interrupted }));
        if (ch === '\u0004') {
          if (!answer) return done(new InputError(`no answer to "${question.trim()}" (Ctrl-D)`));
          continue;
        }
        if (ERASE.has(ch)) answer = [...answer].slice(0, -1).join('');
        else if (ch === '\u0015') answer = '';
        // an escape sequence (arrow keys) is not part of a password: drop the rest of the chunk
        else if (ch === '\u001b') break;
        else if (ch >= ' ') answer += ch;
      }
    };
    input.setRawMode?.(true);
    output.write(question);
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
}

/** Questions asked one after another on the terminal, with echo (kha init). */
export interface LineAsker {
  /** the answer, trimmed; Ctrl-C rejects as an interruption (exit 130), Ctrl-D or the end of input as bad input */
  ask(question: string): Promise<string>;
  /** one line to the terminal (why an answer was not taken) */
  tell(line: string): void;
  close(): void;
}

/** A LineAsker over the terminal's streams (the questions go to `output`: stdout stays for results). */
export function lineAsker(io: PromptStreams): LineAsker {
  const rl = createInterface({ input: io.input, output: io.output, terminal: true });
  let ended: 'interrupted' | 'closed' | undefined;
  const stop = new AbortController();
  // Ctrl-C (the terminal is readline's: no SIGINT reaches the process) or the end of input
  rl.on('SIGINT', () => {
    ended ??= 'interrupted';
    stop.abort();
  });
  rl.on('close', () => {
    ended ??= 'closed';
    stop.abort();
  });
  const endError = (question: string) =>
    ended === 'interrupted'
      ? new KhaError('interrupted', { code: 'E_INTERRUPTED', exit: ExitCode.interrupted })
      : new InputError(`no answer to "${question.trim()}": the input ended`);
  return {
    async ask(question) {
      if (ended) throw endError(question);
      try {
        return (await rl.question(question, { signal: stop.signal })).trim();
      } catch (err) {
        if (!ended) throw err;
        io.output.write('\n');
        throw endError(question);
      }
    },
    tell: (line) => void io.output.write(`${line}\n`),
    close: () => rl.close(),
  };
}
