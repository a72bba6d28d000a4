// Running the built kha CLI in tests: `node bin/run.js ...` as a subprocess (npm run build first),
// and reading what it printed and logged (showRun, parseJson, jsonChanged, readLog, errorLines).
//
// No shell, stdin closed unless `input` is given, every run bounded in time. Default log files go
// to a private temp dir (XDG_STATE_HOME), never to the user's home.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../src/lab/lab.js';
import type { HostRecap, TaskResult } from '../../src/engine/types.js';
import { outputSchema } from '../../src/cli/output-schema.js';

/** the repository root (test/helpers/../..) */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN_JS = path.join(REPO_ROOT, 'bin', 'run.js');

export interface RunKhaOptions {
  /** the kha entry point to run with node (default: this repository's bin/run.js) */
  bin?: string;
  /** added to (and overriding) the inherited environment */
  env?: Record<string, string | undefined>;
  /** written to stdin, which is then closed */
  input?: string;
  /** kill the process (SIGKILL) after this many ms; default 180 000 */
  timeoutMs?: number;
  /** on the timeout: reject (default) or resolve with code null and signal SIGKILL */
  onTimeout?: 'reject' | 'resolve';
  /** called with every stdout line as it arrives (a cue to act mid-run) */
  onLine?: (line: string) => void;
  /** called once the process is spawned (to sample /proc/<pid>, or to signal it) */
  onSpawn?: (child: ChildProcess) => void;
}

export interface KhaRun {
  /** exit code; null when killed by a signal (the timeout) */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** wall time of the whole process, ms */
  ms: number;
  /** the arguments after `kha` */
  argv: string[];
}

let stateHome: string | undefined;
function defaultStateHome(): string {
  stateHome ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kha-cli-state-'));
  return stateHome;
}

/** The one way tests run the built CLI: `node bin/run.js <args>`, no shell; never throws for a non-zero exit. */
export function runKha(args: string[], opts: RunKhaOptions = {}): Promise<KhaRun> {
  if (!opts.bin && !fs.existsSync(path.join(REPO_ROOT, 'dist', 'bundle', 'kha.js'))) {
    return Promise.reject(new Error(`kha is not built (no ${path.join(REPO_ROOT, 'dist', 'bundle', 'kha.js')}): run npm run build first`));
  }
  const timeoutMs = opts.timeoutMs ?? 180_000;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [opts.bin ?? RUN_JS, ...args], {
      cwd: REPO_ROOT,
      shell: false,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', XDG_STATE_HOME: defaultStateHome(), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    opts.onSpawn?.(child);
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      if (!opts.onLine) return;
      const lines = (partial + d.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const l of lines) opts.onLine(l);
    });
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // the CLI may exit before reading stdin
    if (opts.input !== undefined) child.stdin.write(opts.input);
    child.stdin.end();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r: KhaRun = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Math.round(performance.now() - t0),
        argv: args,
      };
      if (timedOut && opts.onTimeout !== 'resolve') {
        reject(new Error(`kha ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`));
        return;
      }
      resolve(r);
    });
  });
}

/** For assertion messages: the command, its exit and its whole output. */
export function showRun(r: KhaRun): string {
  return `kha ${r.argv.join(' ')} -> exit ${r.code}${r.signal ? ` (${r.signal})` : ''} in ${r.ms} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** A task event as `--json` prints it. */
export interface JsonTask extends TaskResult {
  type: 'task';
  check: boolean;
}

export interface JsonMessage {
  type: 'message';
  level: 'info' | 'warn' | 'error';
  host?: string;
  text: string;
}

/**
 * A command's `--json` document (src/report/json.ts, schema/kha-output.schema.json), `result`
 * typed by the caller: the same envelope for every command, success or failure.
 */
export interface KhaJson<R> {
  format: 1;
  command: string | null;
  ok: boolean;
  exit: number;
  error: { code: string; message: string; hosts: string[]; hint: string | null } | null;
  result: R | null;
  recap: Record<string, HostRecap>;
  tasks: JsonTask[];
  messages: JsonMessage[];
  log: string | null;
}

/** Where a --json document does not fit the published schema, one `path: message` per issue ([] when it fits). */
export function outputProblems(doc: unknown): string[] {
  const r = outputSchema.safeParse(doc);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`);
}

/** `kha play --json`'s document. */
export type KhaJsonDoc = KhaJson<unknown>;

export interface KhaJsonRun extends KhaRun {
  json: KhaJsonDoc;
}

/** runKha with `--json` appended; stdout must be exactly one JSON document. */
export async function runKhaJson(args: string[], opts: RunKhaOptions = {}): Promise<KhaJsonRun> {
  const r = await runKha([...args, '--json'], opts);
  return { ...r, json: parseJson<unknown>(r) };
}

/** The `--json` document of a run; throws (with the whole run) unless stdout is exactly one JSON document. */
export function parseJson<R>(r: KhaRun): KhaJson<R> {
  try {
    return JSON.parse(r.stdout) as KhaJson<R>;
  } catch (e) {
    throw new Error(`stdout of --json is not one JSON document (${String(e)})\n${showRun(r)}`);
  }
}

/** Sum of one recap column over all hosts. */
export function recapTotal(doc: KhaJson<unknown>, column: keyof HostRecap): number {
  return Object.values(doc.recap).reduce((n, r) => n + r[column], 0);
}

/** `kha up --json`'s result. */
export interface UpResult {
  holder: string | null;
  changed: boolean;
  endpoint: string;
}

/** The `kha up --json` document of a run, and the sum of `changed` over its recap. */
export function jsonChanged(r: KhaRun): { changed: number; doc: KhaJson<UpResult> } {
  const doc = parseJson<UpResult>(r);
  return { changed: recapTotal(doc, 'changed'), doc };
}

/** Lines of `text` that start with `error:` (after leading spaces). */
export function errorLines(text: string): string[] {
  return text.split('\n').filter((l) => /^\s*error:/.test(l));
}

/** A duration for a log line: `12.3 s`. */
export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** kha's pino log (--log-file): one JSON event per line with `time` (ms since the epoch). */
export interface LogEvent {
  time: number;
  type: string;
  level: number;
  /** batch events: the play ('upgrade' for the roll's own batches) */
  play?: string;
  text?: string;
  index?: number;
  count?: number;
  hosts?: string[];
  host?: string;
  task?: string;
  status?: string;
  data?: unknown;
}

export function readLog(file: string): LogEvent[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as LogEvent);
}

// ---------------------------------------------------------------------------------------------
// the integration tests' runs: long bounds, and a timeout is a result (code null), not a throw

export interface KhaOptions {
  /** kill the process (SIGKILL) after this many ms; default 5 min */
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
}

/** runKha for the integration tests: 5 min by default, a timeout resolves with code null. */
export function kha(args: string[], opts: KhaOptions = {}): Promise<KhaRun> {
  return runKha(args, { timeoutMs: opts.timeoutMs ?? 5 * 60_000, onTimeout: 'resolve', ...(opts.env ? { env: opts.env } : {}) });
}

export interface UpArgs {
  inventory: string;
  knownHosts: string;
  json?: boolean;
  serial?: string;
  /** where kha writes its JSON log (default: next to the inventory) */
  logFile?: string;
  extra?: string[];
}

/** `kha up -i INV --known-hosts FILE [--json] [--serial S] --log-file F` */
export function runUp(a: UpArgs, opts: KhaOptions = {}): Promise<KhaRun> {
  const args = ['up', '-i', a.inventory, '--known-hosts', a.knownHosts];
  if (a.json) args.push('--json');
  if (a.serial !== undefined) args.push('--serial', a.serial);
  args.push('--log-file', a.logFile ?? `${a.inventory.replace(/\.ya?ml$/, '')}.log`);
  args.push(...(a.extra ?? []));
  return kha(args, opts);
}

/** kha up against the lab, always with --known-hosts <lab.knownHostsFile> */
export function upLab(lab: Lab, inventory: string, o: { json?: boolean; serial?: string } = {}): Promise<KhaRun> {
  return runUp({ inventory, knownHosts: lab.knownHostsFile, ...o });
}
