import { createInterface } from 'node:readline/promises';
import type { Confirm } from '../actions/plan.js';

/** The terminal the question goes to (the process's own; tests pass fake TTY streams). */
export interface Terminal {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * A y/N prompt, or undefined (no prompt) with --yes, --check, --json, or when stdin is not a
 * terminal (a script, a pipe: nobody could answer). Only stdin decides: `kha up | tee up.log`
 * still asks, on stderr (the terminal) since stdout is the pipe.
 */
export function terminalConfirm(
  flags: { yes?: boolean; check?: boolean; json?: boolean },
  term: Terminal & { error?: NodeJS.WritableStream } = { input: process.stdin, output: process.stdout, error: process.stderr },
): Confirm | undefined {
  if (flags.yes || flags.check || flags.json || !term.input.isTTY) return undefined;
  const output = term.output.isTTY || !term.error ? term.output : term.error;
  return async () => {
    const rl = createInterface({ input: term.input, output, terminal: true });
    // Ctrl-C (the terminal is readline's now: no SIGINT reaches the process) or Ctrl-D at the
    // prompt is a no: the caller cancels and releases its lock instead of waiting forever
    const answered = new AbortController();
    rl.on('SIGINT', () => answered.abort());
    rl.on('close', () => answered.abort());
    try {
      const a = (await rl.question('Apply these changes? [y/N] ', { signal: answered.signal })).trim().toLowerCase();
      return a === 'y' || a === 'yes';
    } catch (err) {
      if (!answered.signal.aborted) throw err;
      output.write('\n');
      return false;
    } finally {
      rl.close();
    }
  };
}
