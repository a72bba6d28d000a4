// file / directory: state, mode, owner. One stat to probe, one command to apply.
// `state: absent` removes a path; kha reset uses its guards: a file is removed only when it holds
// kha's header line (an operator's file of the same name stays), a directory only when it is
// empty, and with --diff the removed content is shown (secret values redacted on the host).
import { defineModule } from '../engine/plan-tasks.js';
import type { DiffSpec } from '../engine/types.js';
import { markedSections } from '../facts/sections.js';
import { TaskFailed } from '../errors.js';
import { quote } from '../transport/quote.js';
import { redactedCatScript } from './secret-file.js';
import { must, octal } from './util.js';
import { fileStatArg } from './probe-groups.js';

export interface FileParams {
  path: string;
  state: 'directory' | 'absent' | 'file';
  mode?: number;
  owner?: string;
  group?: string;
  /** absent: remove the file only when one of its lines is exactly this (kha's header); otherwise it is left */
  onlyIfLine?: string;
  /** absent: remove a directory only when it is empty (rmdir), never what is in it */
  onlyIfEmpty?: boolean;
  /**
   * absent with --diff: show the content that goes. Only for files whose content kha rendered
   * (kha reset): a file of unknown content may hold secrets no masker knows, so by default a
   * removal is listed, never shown.
   */
  diffContent?: boolean;
  /** with diffContent: the values of these keywords are secrets, redacted on the host (modules/secret-file.ts) */
  redact?: string[];
}

export interface StatFact {
  exists: boolean;
  type?: 'directory' | 'file' | 'other';
  mode?: number;
  owner?: string;
  group?: string;
}

export function statScript(path: string): string {
  return `stat -c '%F|%a|%U|%G' -- ${quote(path)} 2>/dev/null || echo missing`;
}

export function parseStat(out: string): StatFact {
  const l = out.trim().split('\n').pop() ?? '';
  if (l === 'missing' || !l.includes('|')) return { exists: false };
  const [t, m, u, g] = l.split('|');
  const type = t === 'directory' ? 'directory' : t?.startsWith('regular') ? 'file' : 'other';
  return { exists: true, type, mode: parseInt(m ?? '0', 8), ...(u ? { owner: u } : {}), ...(g ? { group: g } : {}) };
}

const MARK = '@@kha-file@@';

/** Does a removal show its content (--diff, and the params allow it)? */
const showsContent = (p: FileParams, diff: boolean) => diff && p.diffContent === true;

/** Does a removal need more than the stat (a guard, or the content for --diff)? */
const guarded = (p: FileParams, diff: boolean) => p.state === 'absent' && (p.onlyIfLine !== undefined || p.onlyIfEmpty === true || showsContent(p, diff));

/**
 * The probe of a guarded removal: the stat, then (each when asked) whether the guard line is in
 * the file, the first entries of a directory, and the file's content (redacted on the host).
 */
export function removalProbeScript(p: FileParams, withContent: boolean): string {
  const q = quote(p.path);
  const parts = [`stat -c '%F|%a|%U|%G' -- ${q}`];
  if (p.onlyIfLine !== undefined) parts.push(`echo ${MARK}line; if grep -qsxF -- ${quote(p.onlyIfLine)} ${q}; then echo yes; fi`);
  if (p.onlyIfEmpty) parts.push(`echo ${MARK}entries; if [ -d ${q} ]; then ls -A -- ${q} | head -n 5; fi`);
  if (withContent) parts.push(`echo ${MARK}content; if [ -f ${q} ]; then ${p.redact ? redactedCatScript(p.path, p.redact) : `cat -- ${q}`}; fi`);
  return `if [ -e ${q} ] || [ -L ${q} ]; then ${parts.join('; ')}; else echo missing; fi`;
}

export interface RemovalFact extends StatFact {
  /** the guard line is in the file (undefined: not asked) */
  hasLine?: boolean;
  /** a directory's first entries (undefined: not asked) */
  entries?: string[];
  /** the content (undefined: not asked, or not a regular file) */
  content?: string;
}

export function parseRemovalProbe(out: string): RemovalFact {
  const head = out.split(MARK)[0] ?? '';
  const st = parseStat(head);
  if (!st.exists) return st;
  const sec = markedSections(out, MARK);
  const line = sec.get('line');
  const entries = sec.get('entries');
  const content = sec.get('content');
  return {
    ...st,
    ...(line ? { hasLine: line.some((l) => l.trim() === 'yes') } : {}),
    ...(entries ? { entries: entries.filter((l) => l.length > 0) } : {}),
    ...(content !== undefined && st.type === 'file' ? { content: content.join('\n') } : {}),
  };
}

/** What differs between the stat and the wanted state (empty when nothing). Pure. */
export function fileDiffs(st: StatFact, p: FileParams): string[] {
  if (p.state === 'absent') return st.exists ? ['present'] : [];
  if (!st.exists) return [`missing`];
  const out: string[] = [];
  if (p.state === 'directory' && st.type !== 'directory') out.push(`is a ${st.type}, not a directory`);
  if (p.state === 'file' && st.type !== 'file') out.push(`is a ${st.type}, not a file`);
  if (p.mode !== undefined && st.mode !== p.mode) out.push(`mode ${octal(st.mode ?? 0)} -> ${octal(p.mode)}`);
  if (p.owner && st.owner !== p.owner) out.push(`owner ${st.owner} -> ${p.owner}`);
  if (p.group && st.group !== p.group) out.push(`group ${st.group} -> ${p.group}`);
  return out;
}

/**
 * Why a present path must stay, or null when it may go. Pure. A guard that holds keeps the path:
 * not kha's (the header line is missing), or a directory with something in it.
 */
export function removalRefused(f: RemovalFact, p: FileParams): string | null {
  if (p.onlyIfEmpty && f.type === 'directory' && (f.entries?.length ?? 0) > 0)
    return `not empty (${f.entries!.slice(0, 3).join(', ')}${f.entries!.length > 3 ? ', ...' : ''}): left in place`;
  if (p.onlyIfLine !== undefined && f.type !== 'directory' && !f.hasLine) return "not kha's (no kha header line): left in place";
  return null;
}

export function applyScript(p: FileParams): string {
  const q = quote(p.path);
  if (p.state === 'absent') return p.onlyIfEmpty ? `if [ -d ${q} ] && [ ! -L ${q} ]; then rmdir -- ${q}; else rm -f -- ${q}; fi` : `rm -rf -- ${q}`;
  const lines = [p.state === 'directory' ? `mkdir -p -- ${q}` : `[ -e ${q} ] || : > ${q}`];
  if (p.mode !== undefined) lines.push(`chmod ${octal(p.mode)} -- ${q}`);
  // `--` first: an owner that starts with `-` is an operand (an invalid user), never an option
  if (p.owner || p.group) lines.push(`chown -- ${quote(`${p.owner ?? ''}${p.group ? `:${p.group}` : ''}`)} ${q}`);
  return lines.join(' && ');
}

/** The removal's diff: the whole content goes (to /dev/null). */
function removalDiff(p: FileParams, f: RemovalFact): DiffSpec | undefined {
  return f.content === undefined ? undefined : { path: p.path, before: f.content, after: null };
}

export const fileModule = defineModule<FileParams>({
  name: 'file',
  describe: (p) => (p.state === 'absent' ? `remove ${p.path}` : p.state === 'directory' ? `directory ${p.path}` : `file ${p.path}`),
  probe(p, ctx) {
    if (!p.path.startsWith('/')) throw new TaskFailed(`path ${p.path} must be absolute`);
    if (guarded(p, ctx.diff)) return { cmd: { script: removalProbeScript(p, showsContent(p, ctx.diff)) }, become: true };
    const group = fileStatArg('stat', p.path);
    return { cmd: { script: statScript(p.path) }, become: true, ...(group ? { group } : {}) };
  },
  decide([r], p, ctx) {
    if (guarded(p, ctx.diff)) {
      const f = parseRemovalProbe(r?.stdout ?? '');
      if (!f.exists) return { change: false, why: 'absent' };
      const refused = removalRefused(f, p);
      if (refused) return { change: false, why: refused };
      const diff = removalDiff(p, f);
      const what = f.type === 'directory' ? 'empty directory present' : 'present';
      return {
        change: true,
        why: what,
        ...(diff ? { diff } : {}),
        apply: async (hc) => void (await must(hc.conn, { script: applyScript(p) }, `remove ${p.path}`)),
      };
    }
    const st = parseStat(r?.stdout ?? '');
    if (st.exists && st.type === 'directory' && p.state === 'file') throw new TaskFailed(`${p.path} is a directory; a file was expected`);
    const diffs = fileDiffs(st, p);
    if (diffs.length === 0) return { change: false, why: p.state === 'absent' ? 'absent' : `${p.state} as wanted` };
    return { change: true, why: diffs.join(', '), apply: async (ctx) => void (await must(ctx.conn, { script: applyScript(p) }, `${p.state} ${p.path}`)) };
  },
});
