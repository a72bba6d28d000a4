// Watching the VIP during a roll: a polling sampler of the holders (sampleVip, timeline) and the
// kernel's exact address events (monitorVip, vipWindows), and the verdicts drawn from both.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '../../src/lab/lab.js';
import { parseMonitorTime } from '../../src/actions/vip-events.js';
import { sh, vipHolders } from './hosts.js';

// ---------------------------------------------------------------------------------------------
// background VIP sampler

export interface VipSample {
  /** Date.now() when the sample round started and ended */
  t0: number;
  t1: number;
  holders: string[];
}

export interface VipTimeline {
  samples: VipSample[];
  /** the most holders any one sample saw */
  maxHolders: number;
  /** samples with 2+ holders */
  splitSamples: VipSample[];
  /** longest run without a holder: from the first empty sample to the next sample with a holder, ms */
  longestZeroMs: number;
  /** number of separate windows without a holder */
  zeroWindows: number;
  /** holders in order of appearance, consecutive duplicates collapsed ('-' for none) */
  sequence: string[];
  /** samples that failed (docker exec error) */
  errors: number;
  /** the first sample that started at or after `t` */
  firstAfter(t: number): VipSample | undefined;
}

/**
 * Samples `ip -o -4 addr show` on every host of the lab every `intervalMs` (start to start; a
 * round that takes longer starts the next at once) until stop(), or at most `maxMs` / `maxSamples`.
 */
export function sampleVip(lab: Lab, opts: { intervalMs?: number; maxMs?: number; maxSamples?: number; hosts?: string[] } = {}) {
  const intervalMs = opts.intervalMs ?? 100;
  const maxMs = opts.maxMs ?? 5 * 60_000;
  const maxSamples = opts.maxSamples ?? 6000;
  const hosts = opts.hosts ?? lab.hosts.map((h) => h.name);
  const samples: VipSample[] = [];
  let errors = 0;
  let stopped = false;
  const started = Date.now();
  const loop = (async () => {
    while (!stopped && Date.now() - started < maxMs && samples.length < maxSamples) {
      const t0 = Date.now();
      try {
        const holders = await vipHolders(lab, hosts);
        samples.push({ t0, t1: Date.now(), holders });
      } catch {
        errors++;
      }
      const wait = intervalMs - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  })();
  return {
    samples,
    async stop(): Promise<VipTimeline> {
      stopped = true;
      await loop;
      return timeline(samples, errors);
    },
  };
}

export function timeline(samples: VipSample[], errors = 0): VipTimeline {
  let longestZeroMs = 0;
  let zeroWindows = 0;
  let zeroSince: number | null = null;
  const sequence: string[] = [];
  for (const s of samples) {
    const label = s.holders.length ? s.holders.join('+') : '-';
    if (sequence[sequence.length - 1] !== label) sequence.push(label);
    if (s.holders.length === 0) {
      if (zeroSince === null) {
        zeroSince = s.t0;
        zeroWindows++;
      }
    } else if (zeroSince !== null) {
      longestZeroMs = Math.max(longestZeroMs, s.t1 - zeroSince);
      zeroSince = null;
    }
  }
  const last = samples[samples.length - 1];
  if (zeroSince !== null && last) longestZeroMs = Math.max(longestZeroMs, last.t1 - zeroSince);
  return {
    samples,
    maxHolders: Math.max(0, ...samples.map((s) => s.holders.length)),
    splitSamples: samples.filter((s) => s.holders.length > 1),
    longestZeroMs,
    zeroWindows,
    sequence,
    errors,
    firstAfter: (t) => samples.find((s) => s.t0 >= t),
  };
}

// ---------------------------------------------------------------------------------------------
// exact VIP timeline: `ip -ts monitor address` inside every host (containers share the kernel
// clock), bounded by `timeout`; the polling sampler above cannot tell a real overlap from the
// spread of its docker execs, these kernel events can.

export interface VipEvent {
  /** ms since the epoch (µs precision) */
  t: number;
  host: string;
  up: boolean;
}

export interface VipWindows {
  events: VipEvent[];
  /** windows where 2+ hosts had the VIP: [from, to, hosts] */
  overlaps: Array<{ from: number; to: number; ms: number; hosts: string[] }>;
  /** windows where no host had it */
  gaps: Array<{ from: number; to: number; ms: number }>;
  longestGapMs: number;
  longestOverlapMs: number;
  /** the hosts holding the VIP at time t (ms since the epoch), from the initial state and the events */
  holdersAt(t: number): string[];
}

const MON_LOG = '/tmp/kha-day2-vipmon.log';

function parseMonTime(s: string): number {
  // [2026-11-22T04:03:31.189026] in the container's zone (forced to UTC)
  const t = parseMonitorTime(s);
  if (t === null) throw new Error(`cannot parse the time of: ${s}`);
  return t;
}

/** Start `ip -ts -o monitor address` on every host (at most maxSeconds); stop() returns the windows. */
export async function monitorVip(lab: Lab, opts: { maxSeconds?: number; hosts?: string[] } = {}) {
  const hosts = opts.hosts ?? lab.hosts.map((h) => h.name);
  const max = opts.maxSeconds ?? 300;
  const vipRe = ` inet ${lab.vip.replace(/\./g, '\\.')}/`;
  const started: Record<string, { pid: string; t: number; holds: boolean }> = {};
  await Promise.all(
    hosts.map(async (h) => {
      const out = await sh(lab, h, [
        'sh',
        '-c',
        `rm -f ${MON_LOG}; TZ=UTC setsid timeout ${max} ip -ts -o monitor address >${MON_LOG} 2>&1 </dev/null & echo $!; sleep 0.3; date +%s.%N; ip -o -4 addr show | grep -c '${vipRe}' || true`,
      ]);
      const [pid, t, n] = out.trim().split('\n');
      started[h] = { pid: pid!, t: Number(t) * 1000, holds: Number(n) > 0 };
    }),
  );
  return {
    initial: started,
    async stop(): Promise<VipWindows> {
      const events: VipEvent[] = [];
      for (const h of hosts) {
        const out = await sh(lab, h, ['sh', '-c', `kill ${started[h]!.pid} 2>/dev/null; sleep 0.1; cat ${MON_LOG}; rm -f ${MON_LOG}`]);
        for (const line of out.split('\n')) {
          if (!new RegExp(vipRe).test(line)) continue;
          events.push({ t: parseMonTime(line), host: h, up: !/\]\s+Deleted /.test(line) });
        }
      }
      events.sort((a, b) => a.t - b.t);
      return vipWindows(events, started);
    },
  };
}

export function vipWindows(events: VipEvent[], initial: Record<string, { t: number; holds: boolean }>): VipWindows {
  const holding = new Set(
    Object.entries(initial)
      .filter(([, v]) => v.holds)
      .map(([h]) => h),
  );
  const t0 = Math.max(...Object.values(initial).map((v) => v.t));
  const overlaps: VipWindows['overlaps'] = [];
  const gaps: VipWindows['gaps'] = [];
  let overlapFrom: number | null = holding.size > 1 ? t0 : null;
  let gapFrom: number | null = holding.size === 0 ? t0 : null;
  let overlapHosts = new Set<string>(holding.size > 1 ? holding : []);
  for (const e of events) {
    if (e.t < (initial[e.host]?.t ?? t0)) continue; // already in that host's initial state
    if (e.up) holding.add(e.host);
    else holding.delete(e.host);
    if (holding.size > 1) {
      overlapFrom ??= e.t;
      for (const h of holding) overlapHosts.add(h);
    } else if (overlapFrom !== null) {
      overlaps.push({ from: overlapFrom, to: e.t, ms: e.t - overlapFrom, hosts: [...overlapHosts] });
      overlapFrom = null;
      overlapHosts = new Set();
    }
    if (holding.size === 0) gapFrom ??= e.t;
    else if (gapFrom !== null) {
      gaps.push({ from: gapFrom, to: e.t, ms: e.t - gapFrom });
      gapFrom = null;
    }
  }
  // still open at the end (until now)
  const end = Date.now();
  if (overlapFrom !== null) overlaps.push({ from: overlapFrom, to: end, ms: end - overlapFrom, hosts: [...overlapHosts] });
  if (gapFrom !== null) gaps.push({ from: gapFrom, to: end, ms: end - gapFrom });
  const holdersAt = (t: number): string[] => {
    const hs = new Set(
      Object.entries(initial)
        .filter(([, v]) => v.holds)
        .map(([h]) => h),
    );
    for (const e of events) {
      if (e.t > t) break;
      if (e.t < (initial[e.host]?.t ?? t0)) continue;
      if (e.up) hs.add(e.host);
      else hs.delete(e.host);
    }
    return [...hs].sort();
  };
  return {
    holdersAt,
    events,
    overlaps,
    gaps,
    longestGapMs: Math.max(0, ...gaps.map((g) => g.ms)),
    longestOverlapMs: Math.max(0, ...overlaps.map((o) => o.ms)),
  };
}

/**
 * Two holders at once, judged on both timelines. The kernel events are exact; a polling round that
 * saw two holders is only an artifact when a VIP transition happened inside that round (its docker
 * execs are spread over tens of ms). Returns the offenders: kernel overlaps of `toleranceMs` or
 * more, and sampler rounds with 2+ holders that no kernel transition explains.
 */
export function splitBrains(tl: VipTimeline, exact: VipWindows, toleranceMs = 50): { long: VipWindows['overlaps']; unexplained: string[] } {
  const long = exact.overlaps.filter((o) => o.ms >= toleranceMs);
  const unexplained = tl.splitSamples
    .filter((s) => !exact.events.some((e) => e.t >= s.t0 - 5 && e.t <= s.t1 + 5))
    .map((s) => `${new Date(s.t0).toISOString()}..${new Date(s.t1).toISOString().slice(11)} ${s.holders.join('+')}`);
  return { long, unexplained };
}

/** VIP moves in the kernel timeline: how many times a host gained the VIP */
export function vipGains(exact: VipWindows): number {
  return exact.events.filter((e) => e.up).length;
}
