// kha upgrade: change a live HA control plane without losing the VIP.
//   1. connect + facts   2. preflight + the cluster must be healthy (one holder)
//   3. plan every host (nothing changes): hosts with nothing to do are done at once
//   4. roll the non-holders in --serial batches (reload haproxy, restart keepalived only where
//      its config changed), checking after each batch: services active, configs valid, one
//      holder, VIP:frontend_port answers
//   5. the holder last, alone: hand the VIP over on purpose (stop keepalived: it advertises
//      priority 0 on the way out, so a backup takes over at once), wait until exactly one other
//      host shows it and VIP:frontend_port answers through it, then change the holder
//   A failed check stops the roll; later hosts are untouched; the report says how to resume.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../engine/context.js';
import { Found, runPhases, type Phase } from '../engine/phases.js';
import { FLUSH_HANDLERS, runPlay } from '../engine/play.js';
import { batches } from '../engine/serial.js';
import type { PlayStop, ProbedTasks, Task } from '../engine/types.js';
import { ExitCode, KhaError, describeError } from '../errors.js';
import type { HaSettings } from '../inventory/settings.js';
import { packageModule, serviceModule } from '../modules/index.js';
import { quote } from '../transport/quote.js';
import { H_RESTART_HAPROXY, H_RESTART_KEEPALIVED, HAPROXY_CFG, configureTasks, haHandlers, startTasks } from '../roles/ha.js';
import { INSTALLED_RECORD } from '../roles/files.js';
import { connectAndGather, interruptsService, rolloutLockPhase, type Preflight, type UpOptions, type UpState } from './rollout.js';
import { checkPassing, preflight, vipHolders } from './up.js';
import { tcpConnectScript } from './probes.js';
import { planHosts } from './plan.js';

export interface UpgradeOptions extends UpOptions {
  maxFailPercentage: number;
  /** upgrade keepalived and haproxy packages to the latest (or pinned) version */
  packages: boolean;
}

export interface UpgradeReport {
  order: string[][];
  holderBefore: string | null;
  holderAfter: string | null;
  done: string[];
  failed: string[];
  untouched: string[];
  unchanged: string[];
  stopped: boolean;
  stopReason?: string;
  handover?: { from: string; to: string; ms: number };
}

export interface UpgradeState extends UpState {
  opts: UpgradeOptions;
  report: UpgradeReport;
}

/** Batches for the roll: the non-holders by --serial, then the holder alone. Pure. */
export function upgradeOrder(hosts: string[], holder: string | null, batchesOf: (hs: string[]) => string[][]): string[][] {
  const others = hosts.filter((h) => h !== holder);
  const out = batchesOf(others);
  if (holder && hosts.includes(holder)) out.push([holder]);
  return out;
}

function upgradeTasks(st: UpgradeState, net: Preflight['net']): Task<any>[] {
  const { s } = st;
  const pinned = s.keepalivedVersion || s.haproxyVersion;
  const pkg: Task<any>[] =
    st.opts.packages || pinned
      ? [
          {
            module: packageModule,
            params: {
              names: ['keepalived', 'haproxy'],
              noStart: true,
              // a dependency a new version pulls in is kha's too (kha reset --purge)
              record: INSTALLED_RECORD,
              ...(st.opts.packages && !pinned ? { state: 'latest', updateCache: true } : {}),
              ...(pinned
                ? {
                    versions: {
                      ...(s.keepalivedVersion ? { keepalived: s.keepalivedVersion } : {}),
                      ...(s.haproxyVersion ? { haproxy: s.haproxyVersion } : {}),
                    },
                  }
                : {}),
            },
            // a new binary only runs after a restart
            notify: [H_RESTART_HAPROXY, H_RESTART_KEEPALIVED],
          },
        ]
      : [];
  return [...pkg, ...configureTasks(s, net), ...startTasks(s)];
}

/** After a batch: services active and configs valid on the batch, one holder, VIP:port answers. */
async function checkBatch(st: UpgradeState, hosts: string[], expectOneHolder = true): Promise<void> {
  const { run, s } = st;
  for (const h of hosts) {
    const conn = await run.connector.get(run.host(h));
    const r = await conn.exec(
      { script: `systemctl is-active keepalived haproxy; haproxy -c -q -f ${quote(HAPROXY_CFG)}` },
      { become: true, timeoutMs: 20_000 },
    );
    if (r.code !== 0)
      throw new KhaError(`${h}: after the batch, services or config are not healthy: ${(r.stdout + r.stderr).trim().split('\n').join('; ')}`, {
        code: 'E_BATCH_CHECK',
      });
  }
  // VRRP settles within a few adverts
  let holders: string[] = [];
  for (let i = 0; i < 4 * s.advertInt * 5; i++) {
    holders = await vipHolders(st);
    if (holders.length === 1) break;
    await sleep(200);
  }
  if (expectOneHolder && holders.length !== 1) {
    throw new KhaError(holders.length ? `split brain after the batch: ${holders.join(' and ')} hold the VIP` : 'no host holds the VIP after the batch', {
      code: 'E_BATCH_CHECK',
      exit: ExitCode.unhealthy,
    });
  }
  await frontendAnswers(st, holders[0]!);
}

async function frontendAnswers(st: UpState, from: string): Promise<void> {
  const conn = await st.run.connector.get(st.run.host(from));
  for (let i = 0; i < 20; i++) {
    const r = await conn.exec({ script: tcpConnectScript(st.s.vip, st.s.frontendPort, 1) });
    if (r.code === 0) return;
    await sleep(250);
  }
  throw new KhaError(`${st.s.vip}:${st.s.frontendPort} does not answer (tried from ${from})`, { code: 'E_BATCH_CHECK' });
}

/** Move the VIP off `holder` on purpose and wait until exactly one other host has it and it answers. */
export async function handOver(st: UpState, holder: string): Promise<{ to: string; ms: number }> {
  const { run, s } = st;
  const conn = await run.connector.get(run.host(holder));
  const t0 = Date.now();
  const r = await conn.exec({ argv: ['systemctl', 'stop', 'keepalived'] }, { become: true, timeoutMs: 30_000 });
  if (r.code !== 0) throw new KhaError(`${holder}: could not stop keepalived to hand the VIP over: ${r.stderr.trim()}`, { code: 'E_HANDOVER' });
  run.events.info(`handing the VIP over: keepalived stopped on ${holder}`, holder);
  const deadline = t0 + (3 * s.advertInt + 10) * 1000;
  while (Date.now() < deadline) {
    const hs = (await vipHolders(st)).filter((h) => h !== holder);
    if (hs.length === 1) {
      const to = hs[0]!;
      await frontendAnswers(st, to);
      const ms = Date.now() - t0;
      run.events.info(`the VIP moved to ${to} in ${(ms / 1000).toFixed(1)} s and ${s.vip}:${s.frontendPort} answers through it`);
      return { to, ms };
    }
    await sleep(100);
  }
  // put it back: never leave the cluster without its VIP
  await conn.exec({ argv: ['systemctl', 'start', 'keepalived'] }, { become: true, timeoutMs: 30_000 }).catch(() => undefined);
  throw new KhaError(`no other host took the VIP from ${holder}; keepalived was started again there and nothing was changed on it`, { code: 'E_HANDOVER' });
}

export function upgradePhases(): Phase<UpgradeState>[] {
  const pf = new Found<Preflight>('preflight');
  return [
    { title: 'Connect and gather facts', run: async (st) => connectAndGather(st.run, [...new Set([...st.s.lbHosts, ...st.s.masters])]) },
    rolloutLockPhase((st) => st.s.lbHosts),
    {
      title: 'Preflight: settings, network, and a healthy cluster (nothing is changed yet)',
      run: async (st) => {
        const { holders } = pf.set(await preflight(st));
        const missing = st.s.lbHosts.filter((h) => !st.run.facts.get(h)?.packages.keepalived || !st.run.facts.get(h)?.packages.haproxy);
        if (missing.length)
          throw new KhaError(`keepalived/haproxy are not installed on ${missing.join(', ')}; run kha up first`, { code: 'E_NOT_UP', exit: ExitCode.preflight });
        if (holders.length !== 1) {
          throw new KhaError(
            holders.length
              ? `split brain: ${holders.join(' and ')} hold the VIP; fix it before upgrading (kha status)`
              : `no host holds the VIP ${st.s.vip}; run kha up to repair before upgrading`,
            { code: 'E_UNHEALTHY', exit: ExitCode.unhealthy },
          );
        }
        st.report.holderBefore = holders[0]!;
      },
    },
    { title: 'Roll: the hosts without the VIP in batches, the VIP holder last', run: (st) => roll(st, pf.get().net) },
  ];
}

async function roll(st: UpgradeState, net: Preflight['net']): Promise<void> {
  const { run, s, report } = st;
  const holder = report.holderBefore;
  const tasks = upgradeTasks(st, net);
  const handlers = haHandlers();
  // 1. plan every host in parallel (nothing changes): hosts with nothing to do are done at once
  const { needs, probed } = await hostChanges(st, tasks);
  const changing = s.lbHosts.filter((_, i) => needs[i]!.length > 0);
  report.unchanged.push(...s.lbHosts.filter((_, i) => needs[i]!.length === 0));
  if (changing.length === 0) {
    run.events.info('nothing to change on any host');
    return;
  }
  const order = upgradeOrder(changing, holder, (hs) => batches(st.opts.serial, hs, '--serial'));
  report.order = order;
  run.events.info(
    `order: ${order.map((b) => `[${b.join(', ')}]`).join(' -> ')}${report.unchanged.length ? `; unchanged: ${report.unchanged.join(', ')}` : ''}`,
  );
  if (run.check) {
    // plan only: show what would change on each host
    await runPlay(run, { name: 'upgrade (check)', hosts: changing, tasks, handlers, probed });
    return;
  }
  // 2. the roll: one play, the batches in that order; `hosts` is every load balancer (the max-fail base)
  const holderInterrupted = holder !== null && interruptsService(needs[s.lbHosts.indexOf(holder)] ?? [], handlers);
  const r = await runPlay(run, {
    name: 'upgrade',
    hosts: s.lbHosts,
    batches: order,
    planFirst: false,
    tasks: [...tasks, FLUSH_HANDLERS, checkPassing()],
    handlers,
    probed,
    maxFailPercentage: st.opts.maxFailPercentage,
    beforeBatch: async (hosts) => {
      if (holder !== null && hosts.includes(holder)) await beforeHolderBatch(st, holder, holderInterrupted);
    },
    afterBatch: async (hosts, i) => {
      if (holder !== null && hosts.includes(holder)) await primaryTakesBack(st, holder);
      await checkBatch(st, hosts);
      run.events.info(`batch ${i + 1}/${order.length} done: ${order[i]!.join(', ')}; VIP served`);
    },
    onStop: (stop, i) => {
      const reason = stopReason(stop, i);
      if (stop.kind !== 'interrupted') run.events.emit({ type: 'message', level: 'error', text: `upgrade stopped at batch ${i + 1}: ${reason}` });
      return reason;
    },
  });
  report.done.push(...r.done);
  report.failed.push(...r.failed, ...r.unreachable);
  report.untouched.push(...r.untouched);
  report.stopped = r.stopped;
  if (r.stopReason) report.stopReason = r.stopReason;
  if (holder !== null && (r.failed.includes(holder) || r.unreachable.includes(holder))) {
    // the old holder failed: make sure keepalived runs there again (with the old config if restored)
    const conn = await run.connector.get(run.host(holder)).catch(() => null);
    await conn?.exec({ argv: ['systemctl', 'start', 'keepalived'] }, { become: true }).catch(() => undefined);
  }
  const holders = await vipHolders(st).catch(() => []);
  report.holderAfter = holders.length === 1 ? holders[0]! : null;
}

/** kha upgrade's words for a stop at batch `i` (the report's stopReason). */
function stopReason(stop: PlayStop, i: number): string {
  if (stop.kind === 'interrupted') return 'interrupted';
  if (stop.kind === 'hook') return describeError(stop.error);
  return `batch ${i + 1} failed on ${stop.hosts.join(', ')}`;
}

/** Before the holder's batch: hand the VIP over on purpose when its changes interrupt its service. */
async function beforeHolderBatch(st: UpgradeState, holder: string, interrupted: boolean): Promise<void> {
  if (!interrupted) {
    st.run.events.info(`${holder} keeps the VIP: its changes apply with a haproxy reload (established connections survive), so no handover is needed`);
    return;
  }
  const h = await handOver(st, holder);
  st.report.handover = { from: holder, to: h.to, ms: h.ms };
}

/**
 * After the holder's batch, when it handed the VIP over: with preemption the primary takes the VIP
 * back once its check passes. Wait for that move here, so the roll ends in a settled state (and
 * the batch check sees it).
 */
async function primaryTakesBack(st: UpgradeState, holder: string): Promise<void> {
  const { run, s } = st;
  if (!st.report.handover || s.nopreempt || holder !== s.primary) return;
  const t = Date.now();
  while (Date.now() - t < (3 * s.advertInt + 15) * 1000) {
    const hs = await vipHolders(st);
    if (hs.length === 1 && hs[0] === holder) {
      run.events.info(`${holder} (the primary) took the VIP back after ${((Date.now() - t) / 1000).toFixed(1)} s`);
      return;
    }
    await sleep(200);
  }
  run.events.warn(`${holder} (the primary) did not take the VIP back yet; see kha status`);
}

/**
 * Per host (in s.lbHosts order), the tasks that would change something: the one planner, in check
 * mode, every probe of a host in one round trip. Also what those probes returned, for the roll to
 * decide from while they hold (Play.probed): only the tasks that read what a writer changes
 * (packages, files), not the service tasks (a service's state changes by itself).
 */
async function hostChanges(st: UpgradeState, tasks: Task<any>[]): Promise<{ needs: Task<any>[][]; probed: ProbedTasks }> {
  const plan = await planHosts(
    st.run,
    st.s.lbHosts,
    tasks.filter((t) => !t.meta),
  );
  const needs = st.s.lbHosts.map((h) => plan.changed[h] ?? []);
  const probed = new Map([...plan.probed].map(([h, byTask]) => [h, new Map([...byTask].filter(([t]) => t.module !== serviceModule))]));
  return { needs, probed };
}

export async function upgrade(run: RunContext, s: HaSettings, opts: UpgradeOptions): Promise<UpgradeState> {
  const st: UpgradeState = {
    run,
    s,
    opts: { ...opts, command: 'upgrade' },
    plays: [],
    report: { order: [], holderBefore: null, holderAfter: null, done: [], failed: [], untouched: [], unchanged: [], stopped: false },
  };
  try {
    await runPhases(st, run.events, upgradePhases(), run.opts.signal);
  } finally {
    const r = st.report;
    if (r.order.length || r.stopped) {
      run.events.info(
        `done: ${r.done.join(', ') || 'none'}; failed: ${r.failed.join(', ') || 'none'}; untouched: ${r.untouched.join(', ') || 'none'}; unchanged: ${r.unchanged.join(', ') || 'none'}; VIP on ${r.holderAfter ?? 'no single host'}`,
      );
      if (r.stopped) run.events.warn(`to resume after fixing the cause: run the same kha upgrade again; hosts already converged are skipped`);
    }
    run.events.emit({ type: 'recap', hosts: Object.fromEntries(run.recap) });
    run.events.emit({ type: 'result', data: r });
  }
  return st;
}
