// file / directory: state, mode, owner. One stat to probe, one command to apply.
import { defineModule } from '../engine/plan-tasks.js';
import { TaskFailed } from '../errors.js';
import { quote } from '../transport/quote.js';
import { must, octal } from './util.js';

export interface FileParams {
  path: string;
  state: 'directory' | 'absent' | 'file';
  mode?: number;
  owner?: string;
  group?: string;
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

export function applyScript(p: FileParams): string {
  const q = quote(p.path);
  if (p.state === 'absent') return `rm -rf -- ${q}`;
  const lines = [p.state === 'directory' ? `mkdir -p -- ${q}` : `[ -e ${q} ] || : > ${q}`];
  if (p.mode !== undefined) lines.push(`chmod ${octal(p.mode)} -- ${q}`);
  // `--` first: an owner that starts with `-` is an operand (an invalid user), never an option
  if (p.owner || p.group) lines.push(`chown -- ${quote(`${p.owner ?? ''}${p.group ? `:${p.group}` : ''}`)} ${q}`);
  return lines.join(' && ');
}

export const fileModule = defineModule<FileParams>({
  name: 'file',
  describe: (p) => (p.state === 'absent' ? `remove ${p.path}` : p.state === 'directory' ? `directory ${p.path}` : `file ${p.path}`),
  probe(p) {
    if (!p.path.startsWith('/')) throw new TaskFailed(`path ${p.path} must be absolute`);
    return { cmd: { script: statScript(p.path) }, become: true };
  },
  decide([r], p) {
    const st = parseStat(r?.stdout ?? '');
    if (st.exists && st.type === 'directory' && p.state === 'file') throw new TaskFailed(`${p.path} is a directory; a file was expected`);
    const diffs = fileDiffs(st, p);
    if (diffs.length === 0) return { change: false, why: p.state === 'absent' ? 'absent' : `${p.state} as wanted` };
    return { change: true, why: diffs.join(', '), apply: async (ctx) => void (await must(ctx.conn, { script: applyScript(p) }, `${p.state} ${p.path}`)) };
  },
});
