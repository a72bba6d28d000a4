// kha drill: a controlled failover test. Refuses an unhealthy cluster, records the holder,
// causes the failure, measures until another host shows the VIP and until VIP:frontend_port
// answers again, then always restores what it stopped (also on Ctrl-C) and waits to settle.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../engine/context.js';
import { ExitCode, KhaError, describeError } from '../errors.js';
import type { HaSettings } from '../inventory/settings.js';
import { quote } from '../transport/quote.js';
import type { Connection } from '../transport/types.js';
import { holdsVip, tcpConnectScript } from './probes.js';
import { startVipMonitor, type VipEvent } from './vip-events.js';
import { acquireLocks } from './lock.js';
import { hostLine, status, type StatusReport } from './status.js';

export type DrillMode = 'keepalived' | 'haproxy' | 'host';

export interface DrillRound {
  round: number;
  mode: DrillMode;
  holderBefore: string;
  newHolder: string | null;
  /** ms from the failure until another host showed the VIP (polled over SSH every 100 ms) */
  vipMovedMs: number | null;
  /**
   * The same, exact: from the holder's clock when it stopped the service to the new holder's
   * kernel event adding the VIP (`ip -ts monitor address`). null when the events could not be read.
   */
  vipMovedExactMs: number | null;
  /** from the failure to the old holder's kernel event deleting the VIP (exact, as above) */
  vipReleasedExactMs: number | null;
  /** ms from the VIP move until VIP:frontend_port accepted a TCP connection through the new holder */
  frontendAfterMoveMs: number | null;
  /** ms from the restore until the cluster was healthy again */
  settledMs: number | null;
  holderAfter: string | null;
  /** the budget this mode should meet: 3 x advert_int + 1 s */
  budgetMs: number;
  withinBudget: boolean;
}

/** kha drill's result (--json) */
export interface DrillResult {
  rounds: DrillRound[];
}

function servicesFor(mode: DrillMode): string[] {
  return mode === 'keepalived' ? ['keepalived'] : mode === 'haproxy' ? ['haproxy'] : ['keepalived', 'haproxy'];
}

/**
 * The time budget: 3 x advert_int + 1 s, what a backup waits when adverts stop. A stopped keepalived
 * and a stopped or dead haproxy (systemd writes the track_file, FAULT follows at once) both send a
 * priority-0 advert, so both should move the VIP well within it.
 */
export function drillBudgetMs(s: HaSettings, _mode: DrillMode): number {
  return (3 * s.advertInt + 1) * 1000;
}

export function healthProblem(r: StatusReport): string | null {
  if (r.managed === false) return 'nothing is managed by kha on these hosts; run kha up first';
  if (!r.healthy) return r.problem ?? r.holderUnknown ?? 'unhealthy';
  const bad = r.hosts.filter((h) => !h.reachable || h.keepalived.active !== 'active' || h.haproxy.active !== 'active');
  if (bad.length) return `${bad.map((h) => `${h.name} (keepalived ${h.keepalived.active}, haproxy ${h.haproxy.active})`).join(', ')} not fully running`;
  if (r.hosts.length < 2) return 'a drill needs at least two load-balancer hosts';
  return null;
}

async function holders(run: RunContext, s: HaSettings, among: string[]): Promise<string[]> {
  const res = await Promise.all(
    among.map(async (h) => {
      try {
        const conn = await run.connector.get(run.host(h));
        const r = await conn.exec({ argv: ['ip', '-o', '-4', 'addr', 'show'] }, { timeoutMs: 3000 });
        return holdsVip(r.stdout, s.vip) ? h : null;
      } catch {
        return null;
      }
    }),
  );
  return res.filter((x): x is string => x !== null);
}

export async function drill(
  run: RunContext,
  s: HaSettings,
  mode: DrillMode,
  rounds: number,
  onRound?: (r: DrillRound) => void,
  breakLock = false,
): Promise<DrillRound[]> {
  const out: DrillRound[] = [];
  // a drill stops services on purpose: never while another kha run changes these hosts
  const release = await acquireLocks(run, s.lbHosts, { command: 'drill', breakLock });
  try {
    await drillRounds(run, s, mode, rounds, out, onRound);
  } finally {
    await release();
  }
  return out;
}

async function drillRounds(
  run: RunContext,
  s: HaSettings,
  mode: DrillMode,
  rounds: number,
  out: DrillRound[],
  onRound?: (r: DrillRound) => void,
): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    const result = await drillRound(run, s, mode, round);
    out.push(result);
    onRound?.(result);
    roundFailure(result);
  }
}

/** One round: the failure on the holder, measured, then always restored (also after Ctrl-C). */
async function drillRound(run: RunContext, s: HaSettings, mode: DrillMode, round: number): Promise<DrillRound> {
  const holder = await healthyHolder(run, s);
  const svc = servicesFor(mode);
  const conn = await run.connector.get(run.host(holder));
  const result = newRound(round, mode, holder, drillBudgetMs(s, mode));
  run.events.info(`round ${round}: stopping ${svc.join(' and ')} on the holder ${holder}`);
  let stopped = false;
  // the kernel's own record of the move, beside the polled one
  const monitors = await Promise.all(
    s.lbHosts.map(async (h) => startVipMonitor(await run.connector.get(run.host(h)), h, s.vip, failoverWaitMs(result) / 1000 + 30)),
  );
  try {
    const t0 = Date.now();
    // the holder's own clock at the failure: the exact times are measured from it
    const stop = await conn.exec({ script: `date +%s.%N; systemctl stop ${svc.map((x) => quote(x)).join(' ')}` }, { become: true, timeoutMs: 30_000 });
    stopped = true;
    if (stop.code !== 0) throw new KhaError(`${holder}: could not stop ${svc.join(' and ')}: ${stop.stderr.trim()}`, { code: 'E_DRILL' });
    await measureFailover(run, s, result, t0);
    exactTimes(result, Number(stop.stdout.trim().split('\n')[0]) * 1000, (await Promise.all(monitors.map((m) => m.stop()))).flat());
  } finally {
    await Promise.all(monitors.map((m) => m.stop()));
    if (stopped) await restore(run, s, conn, result);
  }
  result.withinBudget = result.vipMovedMs !== null && result.vipMovedMs <= result.budgetMs;
  return result;
}

/** The VIP's holder of a cluster healthy enough for a drill; else the drill is refused. */
async function healthyHolder(run: RunContext, s: HaSettings): Promise<string> {
  const before = await status(run, s);
  const lost = before.unreachable ?? [];
  if (lost.length) {
    throw new KhaError(`${lost.map((u) => hostLine(u.host, u.reason)).join('; ')}; a drill needs every load-balancer host, so no drill: run kha status`, {
      code: 'E_UNREACHABLE',
      exit: ExitCode.unreachable,
      host: lost[0]!.host,
    });
  }
  const problem = healthProblem(before);
  if (problem) {
    throw new KhaError(`the cluster is not healthy, so no drill: ${problem}; run kha status, fix it (kha up), and try again`, {
      code: 'E_UNHEALTHY',
      exit: ExitCode.unhealthy,
    });
  }
  return before.holders[0]!;
}

function newRound(round: number, mode: DrillMode, holder: string, budgetMs: number): DrillRound {
  return {
    round,
    mode,
    holderBefore: holder,
    newHolder: null,
    vipMovedMs: null,
    vipMovedExactMs: null,
    vipReleasedExactMs: null,
    frontendAfterMoveMs: null,
    settledMs: null,
    holderAfter: null,
    budgetMs,
    withinBudget: false,
  };
}

/** How long a round waits for the VIP to move: 3 budgets, at least 20 s. */
function failoverWaitMs(result: DrillRound): number {
  return Math.max(result.budgetMs * 3, 20_000);
}

/** From the failure at t0: until another host shows the VIP, then until VIP:frontend_port answers through it. */
async function measureFailover(run: RunContext, s: HaSettings, result: DrillRound, t0: number): Promise<void> {
  const others = s.lbHosts.filter((h) => h !== result.holderBefore);
  const deadline = t0 + failoverWaitMs(result);
  while (Date.now() < deadline && !run.opts.signal.aborted) {
    const hs = await holders(run, s, others);
    if (hs.length) {
      result.vipMovedMs = Date.now() - t0;
      result.newHolder = hs[0]!;
      break;
    }
    await sleep(100);
  }
  if (!result.newHolder) return;
  const t1 = Date.now();
  const obs = await run.connector.get(run.host(result.newHolder));
  while (Date.now() - t1 < 15_000 && !run.opts.signal.aborted) {
    const r = await obs.exec({ script: tcpConnectScript(s.vip, s.frontendPort, 1) }, { timeoutMs: 3000 });
    if (r.code === 0) {
      result.frontendAfterMoveMs = Date.now() - t1;
      break;
    }
    await sleep(50);
  }
}

/** From the hosts' own address events: when the old holder let the VIP go and the new one took it, after the failure at hostT0. */
export function exactTimes(result: DrillRound, hostT0: number, events: VipEvent[]): void {
  if (!Number.isFinite(hostT0) || hostT0 <= 0) return;
  const after = events.filter((e) => e.t >= hostT0).sort((a, b) => a.t - b.t);
  const added = after.find((e) => e.up && e.host === result.newHolder);
  const released = after.find((e) => !e.up && e.host === result.holderBefore);
  if (added) result.vipMovedExactMs = Math.round((added.t - hostT0) * 10) / 10;
  if (released) result.vipReleasedExactMs = Math.round((released.t - hostT0) * 10) / 10;
}

/** Start what the round stopped, whatever happened (also after Ctrl-C), and wait for the cluster to settle. */
async function restore(run: RunContext, s: HaSettings, conn: Connection, result: DrillRound): Promise<void> {
  const holder = result.holderBefore;
  const t2 = Date.now();
  const order = result.mode === 'host' ? ['haproxy', 'keepalived'] : servicesFor(result.mode);
  const r = await conn
    .exec({ script: `systemctl start ${order.map((x) => quote(x)).join(' ')}` }, { become: true, timeoutMs: 60_000 })
    .catch((e) => ({ code: 1, stderr: describeError(e), stdout: '', signal: null }));
  if (r.code !== 0)
    run.events.emit({
      type: 'message',
      level: 'error',
      text: `${holder}: could not restart ${order.join(' and ')}: ${r.stderr.trim()}; start them by hand`,
      host: holder,
    });
  else run.events.info(`restored ${order.join(' and ')} on ${holder}`);
  await waitSettled(run, s, result, t2);
}

/** Settled: one holder, and with preemption (the default) the primary has taken it back, and status is healthy. */
async function waitSettled(run: RunContext, s: HaSettings, result: DrillRound, since: number): Promise<void> {
  const wanted = s.nopreempt ? null : s.primary;
  for (let i = 0; i < 120; i++) {
    const hs = await holders(run, s, s.lbHosts);
    if (hs.length === 1 && (wanted === null || hs[0] === wanted)) {
      const st = await status(run, s);
      if (!healthProblem(st)) {
        result.settledMs = Date.now() - since;
        result.holderAfter = hs[0]!;
        return;
      }
    }
    await sleep(250);
  }
}

/** A round that did not fail over, or did not settle, ends the drill. */
function roundFailure(result: DrillRound): void {
  const { round, mode, holderBefore: holder } = result;
  if (!result.newHolder) {
    throw new KhaError(`round ${round}: the VIP did not move off ${holder} after ${mode} failed; check keepalived's journal on the other hosts (kha status)`, {
      code: 'E_NO_FAILOVER',
    });
  }
  if (result.settledMs === null) {
    throw new KhaError(`round ${round}: the cluster did not settle after restoring ${holder}; see kha status`, {
      code: 'E_NOT_SETTLED',
      exit: ExitCode.unhealthy,
    });
  }
}
