// Did-you-mean and the small helpers that keep every inventory error on one safe line.
import { InputError } from '../errors.js';
import type { KeySite } from './types.js';

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (!a.length) return b.length;
  if (!b.length) return a.length;
  // three rolling rows: i-2, i-1, i
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, (prev2[j - 2] ?? 0) + 1);
      }
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

export interface SuggestOptions {
  /**
   * 'key' (default): at most 2 edits AND at most a third of the typed length, so a short
   * operator var like kubespray's `ip` is not mistaken for `vip`.
   * 'name': at least 1 edit is always allowed (host names like m4 -> m1), at most 2.
   */
  mode?: 'key' | 'name';
}

/** Largest distance still counted as a typo of `input`. */
export function maxTypoDistance(input: string, mode: 'key' | 'name' = 'key'): number {
  const third = input.length / 3;
  return mode === 'key' ? Math.min(2, third) : Math.max(1, Math.min(2, third));
}

/** The closest candidate within the typo distance (never `input` itself), ties -> first. */
export function suggest(input: string, candidates: Iterable<string>, opts: SuggestOptions = {}): string | undefined {
  const limit = maxTypoDistance(input, opts.mode);
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c === input) continue;
    // case-only differences count as one edit
    const d = c.toLowerCase() === input.toLowerCase() ? 1 : editDistance(input, c);
    if (d <= limit && d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

// ---- one-line message helpers ------------------------------------------------------------

const PLAIN_VALUE = /^[A-Za-z0-9_./:@~+-]{1,80}$/;
const PLAIN_SEGMENT = /^[A-Za-z0-9_./:@~+-]+$/;

/** A value as it may appear in a message: plain when safe, else JSON-quoted (never a newline). */
export function show(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') {
    if (PLAIN_VALUE.test(value)) return value;
    const j = JSON.stringify(value);
    return j.length > 82 ? `${j.slice(0, 78)}..."` : j;
  }
  if (value instanceof Map || (typeof value === 'object' && !Array.isArray(value))) return 'a mapping';
  if (Array.isArray(value)) return 'a list';
  return typeof value;
}

/** Dotted key path; odd segments (spaces, `;`, newlines) are JSON-quoted. */
export function dotted(path: readonly string[]): string {
  if (!path.length) return '(top level)';
  return path.map((s) => (PLAIN_SEGMENT.test(s) ? s : JSON.stringify(s))).join('.');
}

/** Where an error points: the file as the user named it and a key-path -> line lookup. */
export interface ErrorSite {
  display: string;
  lineOf?: (path: readonly string[]) => number | undefined;
  /** for inventories of several files (group_vars/) or INI: the file, line and written form of a path */
  locate?: (path: readonly string[]) => KeySite;
}

/** `<file>:<line>: <path>: <problem>; <fix>` as an InputError (exit 4). */
export function inputErrorAt(site: ErrorSite, path: readonly string[], problemAndFix: string): InputError {
  return new InputError(`${siteText(site, path)}: ${problemAndFix}`);
}

/** `<file>:<line>: <path>` */
export function siteText(site: ErrorSite, path: readonly string[]): string {
  const at = site.locate?.(path) ?? { display: site.display, line: site.lineOf?.(path), shown: dotted(path) };
  return `${at.line === undefined ? at.display : `${at.display}:${at.line}`}: ${at.shown}`;
}
