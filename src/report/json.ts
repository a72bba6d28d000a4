// --json: every command prints exactly one document on stdout, success or failure: the envelope
// below, with the command's own result in `result`. schema/kha-output.schema.json describes it
// (generated from src/cli/output-schema.ts). Progress and warnings go to stderr meanwhile.
import type { RunEvent, Sink } from '../engine/events.js';
import type { HostRecap } from '../engine/types.js';
import type { ErrorCode } from '../errors.js';

/** The envelope's version: changes only when a field is removed or changes meaning (new fields keep it). */
export const OUTPUT_FORMAT = 1;

/** Why the command failed: `error` in the document, null on success. */
export interface OutputError {
  code: ErrorCode;
  /** the one line a human sees after `error:` (secrets masked) */
  message: string;
  /** the hosts the error is about (failed, unreachable, the one that refused); [] when none */
  hosts: string[];
  /** what to try next (a human sees it after `try:`), or null */
  hint: string | null;
}

export type TaskEvent = Extract<RunEvent, { type: 'task' }>;
export type MessageEvent = Extract<RunEvent, { type: 'message' }> & { level: 'info' | 'warn' | 'error' };

export interface KhaOutput {
  format: typeof OUTPUT_FORMAT;
  /** the command as typed after kha (`up`, `lab up`); null for a command that does not exist */
  command: string | null;
  /** exit === 0 */
  ok: boolean;
  /** the process's exit code (README: Exit codes) */
  exit: number;
  error: OutputError | null;
  /** the command's own document (README: JSON output); null when it failed before making one */
  result: unknown;
  /** per host: ok, changed, failed, unreachable, skipped ({} for commands that run no tasks) */
  recap: Record<string, HostRecap>;
  tasks: TaskEvent[];
  messages: MessageEvent[];
  /** the JSON log of this run, or null when the command writes none */
  log: string | null;
}

export interface OutputEnd {
  command: string | null;
  exit: number;
  error: OutputError | null;
  log: string | null;
}

/** The envelope. Pure. */
export function outputDocument(end: OutputEnd, body: Partial<Pick<KhaOutput, 'result' | 'recap' | 'tasks' | 'messages'>> = {}): KhaOutput {
  return {
    format: OUTPUT_FORMAT,
    command: end.command,
    ok: end.exit === 0,
    exit: end.exit,
    error: end.error,
    result: body.result ?? null,
    recap: body.recap ?? {},
    tasks: body.tasks ?? [],
    messages: body.messages ?? [],
    log: end.log,
  };
}

/** Does the command line ask for --json (before `--`)? For errors met before the flags are parsed. */
export function wantsJson(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--json') return true;
  }
  return false;
}

/** Collects what the document carries: the result, the tasks, the messages and the last recap. */
export class JsonSink implements Sink {
  private result: unknown = null;
  private recap: Record<string, HostRecap> = {};
  private tasks: TaskEvent[] = [];
  private messages: MessageEvent[] = [];

  emit(e: RunEvent): void {
    if (e.type === 'result') this.result = e.data;
    else if (e.type === 'recap') this.recap = e.hosts;
    else if (e.type === 'task') this.tasks.push(e);
    else if (e.type === 'message' && e.level !== 'debug') this.messages.push({ ...e, level: e.level });
  }

  /** for commands that run no event bus (kha version, kha lab) */
  setResult(data: unknown): void {
    this.result = data;
  }

  document(end: OutputEnd): KhaOutput {
    return outputDocument(end, { result: this.result, recap: this.recap, tasks: this.tasks, messages: this.messages });
  }
}
