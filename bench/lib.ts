// Small shared helpers for the benchmarks: summary statistics, tables, the built CLI as a
// subprocess, and JSON results. No kha logic lives here.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** the repository root, from bench/*.ts and from dist-bench/bench/*.js alike */
export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json) above the bench code');
    dir = up;
  }
  return dir;
})();

export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');
/** the compiled bench code (dist-bench/bench) */
export const BENCH_JS_DIR = path.dirname(fileURLToPath(import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const median = n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { n, median, min: s[0]!, max: s[n - 1]! };
}

/** `1234 ms` -> `1.23 s`; keeps ms under one second */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '-';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** `median (min..max)`, or the single value when n = 1 */
export function fmtSummary(s: Summary): string {
  if (s.n === 0) return '-';
  if (s.n === 1) return fmtMs(s.median);
  return `${fmtMs(s.median)} (${fmtMs(s.min)}..${fmtMs(s.max)})`;
}

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((x) => '-'.repeat(x + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

export function writeResult(name: string, data: unknown): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
  fs.renameSync(tmp, file);
  return file;
}

export function machine(): Record<string, unknown> {
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memMB: Math.round(os.totalmem() / 2 ** 20),
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    platform: `${os.platform()} ${os.release()}`,
  };
}

/** The built CLI as a subprocess: no shell, stdin closed, bounded in time. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** wall time of the whole process (node start to exit), ms */
  ms: number;
}

/** `node <bin> <args>`: `bin` is the run.js of a KhaBuild (dist.ts) */
export function runKha(bin: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), bin, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10 * 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Math.round(performance.now() - t0) });
    });
  });
}

/** One pino JSON line of kha's log file (only the fields the benchmarks read). */
export interface LogLine {
  type?: string;
  title?: string;
  ms?: number;
  error?: string;
  status?: string;
  host?: string;
  task?: string;
  time?: number;
}

export function readLog(file: string): LogLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** A private scratch directory under the OS temp dir. */
export function scratch(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kha-bench-${prefix}-`));
}

export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}
