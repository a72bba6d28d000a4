import { randomBytes } from 'node:crypto';
import { TaskFailed } from '../engine/types.js';
import { render } from '../transport/quote.js';
import type { Command, Connection, ExecOptions, ExecResult } from '../transport/types.js';

/** Run and throw TaskFailed on a non-zero exit, with the command's own last stderr lines. */
export async function must(conn: Connection, cmd: Command, what: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await conn.exec(cmd, { become: true, ...opts });
  if (r.code !== 0) {
    const tail = lastLines(r.stderr || r.stdout, 8);
    throw new TaskFailed(`${what} failed (${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`})${tail ? `: ${firstLine(tail)}` : ''}`, tail || render(cmd));
  }
  return r;
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

/** A unified diff; `diff` is loaded on first use (a no-change run never needs it: start-up time). */
export async function unifiedDiff(path: string, before: string | null, after: string): Promise<string> {
  const { createTwoFilesPatch } = await import('diff');
  return createTwoFilesPatch(before === null ? '/dev/null' : path, path, before ?? '', after, '', '', { context: 3 });
}

export function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** A temp-name suffix nobody can predict (64 random bits, hex): Math.random() is not a CSPRNG. */
export function randomSuffix(): string {
  return randomBytes(8).toString('hex');
}
