// Runs the BUILT kha CLI (`node bin/run.js ...`, so `npm run build` first) as a subprocess from
// the repository root: no shell, stdin closed unless `input` is given, every run bounded in time.
// Default log files go to a private temp dir (XDG_STATE_HOME), never to the user's home.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostRecap, TaskResult } from '../../src/engine/types.js';

/** the repository root (test/helpers/../..) */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN_JS = path.join(REPO_ROOT, 'bin', 'run.js');

export interface RunKhaOptions {
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
  if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'commands', 'up.js'))) {
    return Promise.reject(new Error(`kha is not built (no ${path.join(REPO_ROOT, 'dist', 'commands')}): run npm run build first`));
  }
  const timeoutMs = opts.timeoutMs ?? 180_000;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [RUN_JS, ...args], {
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

/** `kha play --json`'s document (an `error` document instead when the command failed before running). */
export interface KhaJsonDoc {
  result: unknown;
  recap: Record<string, HostRecap>;
  tasks: JsonTask[];
  messages: JsonMessage[];
  error?: { message: string; code: string; exit: number };
}

export interface KhaJsonRun extends KhaRun {
  json: KhaJsonDoc;
}

/** runKha with `--json` appended; stdout must be exactly one JSON document. */
export async function runKhaJson(args: string[], opts: RunKhaOptions = {}): Promise<KhaJsonRun> {
  const r = await runKha([...args, '--json'], opts);
  let json: KhaJsonDoc;
  try {
    json = JSON.parse(r.stdout) as KhaJsonDoc;
  } catch (e) {
    throw new Error(`kha ${args.join(' ')} --json (exit ${r.code}) did not print one JSON document: ${(e as Error).message}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return { ...r, json };
}

/** Sum of one recap column over all hosts. */
export function recapTotal(doc: KhaJsonDoc, column: keyof HostRecap): number {
  return Object.values(doc.recap).reduce((n, r) => n + r[column], 0);
}
