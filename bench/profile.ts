// Summarise a V8 .cpuprofile (node --cpu-prof): self time per function (callFrame.functionName +
// url + line), and per area (kha src, ssh2, pino, node internals, GC, idle). Self time of a node is
// the sum of the time deltas of the samples that landed in it (exact when timeDeltas are present;
// hitCount x mean interval otherwise).
//
//   node dist-bench/bench/profile.js FILE.cpuprofile [--top 25]
import fs from 'node:fs';
import { REPO_ROOT } from './lib.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  fn: string;
  where: string;
  area: string;
  selfMs: number;
  pct: number;
  /** the nearest callers outside the function's own area (ssh2/node internals are skipped), by self time */
  callers: Array<{ caller: string; ms: number }>;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  sampledMs: number;
  busyMs: number;
  top: ProfileEntry[];
  areas: Array<{ area: string; selfMs: number; pct: number }>;
}

export function areaOf(cf: CallFrame): string {
  const u = cf.url;
  const f = cf.functionName;
  if (f === '(idle)') return 'idle';
  if (f === '(garbage collector)') return 'GC';
  if (f === '(program)') return 'V8/native (program)';
  if (u.includes('/node_modules/ssh2/')) return 'ssh2';
  if (u.includes('/node_modules/pino') || u.includes('/node_modules/sonic-boom')) return 'pino';
  if (u.includes('/node_modules/p-queue') || u.includes('/node_modules/eventemitter3')) return 'p-queue';
  if (u.includes('/node_modules/')) return `npm:${u.split('/node_modules/')[1]?.split('/')[0] ?? '?'}`;
  if (u.includes('/src/transport/')) return 'kha transport';
  if (u.includes('/src/engine/')) return 'kha engine';
  if (u.includes('/src/')) return 'kha other';
  if (u.includes('/bench/')) return 'bench harness';
  if (u.startsWith('node:internal/modules')) return 'module loading';
  if (u.startsWith('node:')) return 'node internals';
  if (u === '') return 'native/builtin';
  return 'other';
}

function shortUrl(u: string): string {
  if (!u) return '(native)';
  let s = u.replace(/^file:\/\//, '');
  if (s.startsWith(REPO_ROOT)) s = s.slice(REPO_ROOT.length + 1);
  return s.replace(/^.*node_modules\//, '');
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  if (p.samples && p.timeDeltas && p.samples.length === p.timeDeltas.length) {
    // timeDeltas[i] is the time before sample i; attribute it to the sample (V8's own convention)
    for (let i = 0; i < p.samples.length; i++) {
      const id = p.samples[i]!;
      selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, p.timeDeltas[i + 1] ?? 0));
    }
  } else {
    const hits = p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
    const per = (p.endTime - p.startTime) / hits;
    for (const n of p.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (cf: CallFrame) => `${cf.functionName || '(anonymous)'} ${cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '(native)'}`;
  /** first ancestor in kha's own code (src/ or bench/), else the direct parent */
  const callerOf = (id: number): string => {
    const direct = parent.get(id);
    let cur = direct;
    while (cur !== undefined) {
      const cf = byId.get(cur)!.callFrame;
      if (/\/(src|bench)\//.test(cf.url) && !cf.url.includes('node_modules')) return label(cf);
      cur = parent.get(cur);
    }
    return direct !== undefined ? label(byId.get(direct)!.callFrame) : '(root)';
  };
  const callerMs = new Map<string, Map<string, number>>();
  const agg = new Map<string, ProfileEntry>();
  const areas = new Map<string, number>();
  let sampled = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n || us <= 0) continue;
    const cf = n.callFrame;
    const fn = cf.functionName || '(anonymous)';
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '(native)';
    const key = `${fn} ${where}`;
    const area = areaOf(cf);
    const e = agg.get(key) ?? { fn, where, area, selfMs: 0, pct: 0, callers: [] };
    e.selfMs += us / 1000;
    const cm = callerMs.get(key) ?? new Map<string, number>();
    const who = callerOf(id);
    cm.set(who, (cm.get(who) ?? 0) + us / 1000);
    callerMs.set(key, cm);
    agg.set(key, e);
    areas.set(area, (areas.get(area) ?? 0) + us / 1000);
    sampled += us / 1000;
  }
  const idle = areas.get('idle') ?? 0;
  const busy = sampled - idle;
  const entries = [...agg.values()].filter((e) => e.area !== 'idle').sort((a, b) => b.selfMs - a.selfMs);
  for (const e of entries) {
    e.pct = Number(((e.selfMs / busy) * 100).toFixed(1));
    e.callers = [...(callerMs.get(`${e.fn} ${e.where}`) ?? new Map<string, number>()).entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([caller, ms]) => ({ caller, ms: Math.round(ms) }));
    e.selfMs = Math.round(e.selfMs);
  }
  return {
    file,
    totalMs: Math.round((p.endTime - p.startTime) / 1000),
    sampledMs: Math.round(sampled),
    busyMs: Math.round(busy),
    top: entries.slice(0, top),
    areas: [...areas.entries()]
      .map(([area, ms]) => ({ area, selfMs: Math.round(ms), pct: Number(((ms / (area === 'idle' ? sampled : busy)) * 100).toFixed(1)) }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}

if (process.argv[1]?.endsWith('profile.js')) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist-bench/bench/profile.js FILE.cpuprofile [--top N]\n');
    process.exit(4);
  }
  const i = process.argv.indexOf('--top');
  const s = summarizeProfile(file, i > 0 ? Number(process.argv[i + 1]) : 25);
  process.stdout.write(`${file}: ${s.totalMs} ms profiled, ${s.busyMs} ms busy (not idle)\n`);
  for (const a of s.areas)
    process.stdout.write(
      `  ${a.area.padEnd(22)} ${String(a.selfMs).padStart(7)} ms ${String(a.pct).padStart(5)}%${a.area === 'idle' ? ' of sampled' : ' of busy'}\n`,
    );
  process.stdout.write('top self time:\n');
  for (const e of s.top) {
    process.stdout.write(`  ${String(e.selfMs).padStart(7)} ms ${String(e.pct).padStart(5)}%  ${e.fn}  ${e.where}  [${e.area}]\n`);
    for (const c of e.callers) process.stdout.write(`            <- ${c.caller} (${c.ms} ms)\n`);
  }
}
