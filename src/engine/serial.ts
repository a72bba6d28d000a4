// Ansible's `serial` arithmetic, as a pure function: a number, a percentage, or a list whose
// last entry repeats. Percentages round down with a minimum of 1.
import { InputError } from '../errors.js';
import type { SerialSpec } from './types.js';

function parseOne(entry: number | string, where: string): { n: number } | { pct: number } {
  if (typeof entry === 'number') {
    if (!Number.isInteger(entry) || entry < 1) {
      throw new InputError(`${where}: ${entry} is not a valid batch size; use a whole number >= 1 or a percentage such as 20%`);
    }
    return { n: entry };
  }
  const s = String(entry).trim();
  let m = /^(\d+)%$/.exec(s);
  if (m) {
    const pct = Number(m[1]);
    if (pct < 1 || pct > 100) {
      throw new InputError(`${where}: ${s} is not a valid batch size; use a percentage from 1% to 100%`);
    }
    return { pct };
  }
  m = /^(\d+)$/.exec(s);
  if (m) return parseOne(Number(m[1]), where);
  throw new InputError(
    `${where}: ${JSON.stringify(entry)} is not a valid batch size; use a whole number >= 1, a percentage such as 20%, or a list such as [1, "20%"]`,
  );
}

/** Parse a --serial flag value: `20%`, `2`, `1,20%` or `[1, "20%"]`. */
export function parseSerialFlag(value: string, where = '--serial'): SerialSpec {
  const v = value.trim();
  if (v.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      throw new InputError(`${where}: ${v} is not a valid list; write it as [1, "20%"]`);
    }
    if (!Array.isArray(parsed) || parsed.length === 0) throw new InputError(`${where}: the list is empty; give at least one batch size`);
    const list = parsed as unknown[];
    list.forEach((e) => {
      if (typeof e !== 'number' && typeof e !== 'string')
        throw new InputError(`${where}: ${JSON.stringify(e)} is not a valid batch size; use a whole number >= 1 or a percentage such as 20%`);
      parseOne(e, where);
    });
    return list as Array<number | string>;
  }
  if (v.includes(',')) {
    const list = v.split(',').map((s) => s.trim());
    list.forEach((e) => parseOne(e, where));
    return list;
  }
  parseOne(v, where);
  return /^\d+$/.test(v) ? Number(v) : v;
}

/** Validate a serial spec without splitting (for early input checks). */
export function validateSerial(spec: SerialSpec, where = 'serial'): void {
  const list = Array.isArray(spec) ? spec : [spec];
  if (list.length === 0) throw new InputError(`${where}: the list is empty; give at least one batch size`);
  list.forEach((e) => parseOne(e, where));
}

/** Batch sizes for `total` hosts. */
export function batchSizes(spec: SerialSpec | undefined, total: number, where = 'serial'): number[] {
  if (total <= 0) return [];
  if (spec === undefined) return [total];
  const list = Array.isArray(spec) ? spec : [spec];
  if (list.length === 0) throw new InputError(`${where}: the list is empty; give at least one batch size`);
  const parsed = list.map((e) => parseOne(e, where));
  const sizes: number[] = [];
  let left = total;
  let i = 0;
  while (left > 0) {
    const p = parsed[Math.min(i, parsed.length - 1)]!;
    const size = 'n' in p ? p.n : Math.max(1, Math.floor((total * p.pct) / 100));
    const take = Math.min(size, left);
    sizes.push(take);
    left -= take;
    i++;
  }
  return sizes;
}

/** Split hosts into batches, keeping order. */
export function batches<T>(spec: SerialSpec | undefined, hosts: readonly T[], where = 'serial'): T[][] {
  const out: T[][] = [];
  let at = 0;
  for (const n of batchSizes(spec, hosts.length, where)) {
    out.push(hosts.slice(at, at + n));
    at += n;
  }
  return out;
}
