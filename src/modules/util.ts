import { randomBytes } from 'node:crypto';
import { TaskFailed } from '../errors.js';
import { render } from '../transport/quote.js';
import type { Command, Connection, ExecOptions, ExecResult } from '../transport/types.js';

/** Run and throw TaskFailed on a non-zero exit, with the command's own last stderr lines. */
export async function must(conn: Connection, cmd: Command, what: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await conn.exec(cmd, { become: true, ...opts });
  assertOk(r, cmd, what);
  return r;
}

/** Throw must()'s TaskFailed when `r` (the result of `cmd`) is a failure; a probe's result too. */
export function assertOk(r: ExecResult | undefined, cmd: Command, what: string): asserts r is ExecResult {
  if (r?.code === 0) return;
  const res = r ?? { code: null, signal: null, stdout: '', stderr: '' };
  const tail = lastLines(res.stderr || res.stdout, 8);
  throw new TaskFailed(
    `${what} failed (${res.timedOut ? 'timed out' : `exit ${res.code ?? res.signal}`})${tail ? `: ${firstLine(tail)}` : ''}`,
    tail || render(cmd),
  );
}

export function lastLines(s: string, n: number): string {
  return s.trim().split('\n').filter(Boolean).slice(-n).join('\n');
}

function firstLine(s: string): string {
  const lines = s.split('\n');
  // apt and friends put the useful line last ("E: Unable to locate package ...")
  const e = lines.filter((l) => /^(E:|error|\[ALERT\]|Error)/i.test(l.trim()));
  return (e[e.length - 1] ?? lines[lines.length - 1] ?? '').trim();
}

export function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** A temp-name suffix nobody can predict (64 random bits, hex): Math.random() is not a CSPRNG. */
export function randomSuffix(): string {
  return randomBytes(8).toString('hex');
}
