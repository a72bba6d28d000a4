// kha reset: undo kha up. The order lives here, and only here.
//   1. connect + facts (every host kha may have touched)   2. lock (as up)
//   3. plan every host (nothing is changed): each host's removals shown, then the confirmation
//   4. the nodes' proxies, in --serial batches
//   5. the load balancers: the hosts without the VIP in --serial batches, the VIP holder last,
//      so the VIP is served for as long as one host can serve it
//   6. the kha block of /etc/hosts on every host (after the VIP: the endpoint name resolves while
//      anything serves it)
//   7. --purge: the packages kha installed and the user it created, then its records of them
//   8. verify: a second plan finds nothing left
// What is removed, and how reset knows it is kha's, is one table: src/roles/reset.ts.
import type { RunContext } from '../engine/context.js';
import { runPhases, type Phase } from '../engine/phases.js';
import { planHosts } from '../engine/plan-tasks.js';
import { taskTitle } from '../engine/play.js';
import { batches } from '../engine/serial.js';
import type { Task } from '../engine/types.js';
import { ExitCode, KhaError, describeError } from '../errors.js';
import type { Facts } from '../facts/types.js';
import type { HaSettings } from '../inventory/settings.js';
import { purgeModule } from '../modules/purge.js';
import { anyHostResetTasks, lbResetTasks, nodeResetTasks, purgeTasks, resetHandlers } from '../roles/reset.js';
import { changeTitles, showAndConfirm } from './plan.js';
import { holdsVip, tcpConnectScript } from './probes.js';
import { connectAndGather, rolloutLockPhase, playOrThrow, type UpOptions, type UpState } from './rollout.js';

export interface ResetOptions extends UpOptions {
  /** also remove the packages kha installed and the user it created */
  purge: boolean;
  maxFailPercentage: number;
}

export interface ResetReport {
  check: boolean;
  purge: boolean;
  /** something was (or, in check mode, would be) changed */
  changed: boolean;
  /** the load-balancer hosts that held the VIP before the reset */
  holders: string[];
  /** the load balancers' batches: the hosts without the VIP first, the holder last */
  order: string[][];
  hosts: string[];
  /** host -> what the plan found to remove (empty: nothing of kha's) */
  plan: Record<string, string[]>;
  /** host -> what --purge does there, in words */
  packages: Record<string, string>;
}

/** The task lists, made once: the Plan tells the load balancers' tasks from the others by identity. */
interface ResetTasks {
  lb: Task<any>[];
  node: Task<any>[];
  any: Task<any>[];
  purge: Task<any>[];
}

export interface ResetState extends UpState {
  opts: ResetOptions;
  report: ResetReport;
  tasks: ResetTasks;
  /** the load balancers' play: report.order, after a batch of the hosts with nothing to change (they only report, in check mode) */
  lbBatches: string[][];
}

/** Every host kha may have written to: the load balancers, the masters, and the nodes when a node feature is on. Pure. */
export function resetHosts(s: HaSettings): string[] {
  return [...new Set([...s.lbHosts, ...s.masters, ...(s.nodeLocalProxy || s.manageEtcHosts ? s.nodes : [])])];
}

/** The nodes reset works on (their node-local proxies). Pure. */
function resetNodes(s: HaSettings): string[] {
  return s.nodeLocalProxy || s.manageEtcHosts ? s.nodes.filter((n) => !s.lbHosts.includes(n)) : [];
}

/** The load-balancer hosts whose interfaces hold the VIP, from the facts. Pure. */
export function vipHoldersFromFacts(s: HaSettings, facts: ReadonlyMap<string, Facts>): string[] {
  return s.lbHosts.filter((h) => facts.get(h)?.interfaces.some((i) => i.ipv4.some((a) => a.address === s.vip)));
}

/**
 * The load balancers' batches: the hosts without the VIP by --serial, then the holder alone (with
 * a split brain, every holder together, last). Pure.
 */
export function resetOrder(hosts: readonly string[], holders: readonly string[], batchesOf: (hs: string[]) => string[][]): string[][] {
  const last = hosts.filter((h) => holders.includes(h));
  const out = batchesOf(hosts.filter((h) => !holders.includes(h)));
  if (last.length) out.push(last);
  return out;
}

function hostTasks(st: ResetState, h: string): Task<any>[] {
  const { s, tasks } = st;
  return [...(s.lbHosts.includes(h) ? tasks.lb : []), ...(resetNodes(s).includes(h) ? tasks.node : []), ...tasks.any, ...(st.opts.purge ? tasks.purge : [])];
}

/** Plan every host (check mode: nothing is applied); a host that cannot be planned stops the reset before any change. */
async function planAll(st: ResetState) {
  const hosts = resetHosts(st.s);
  const planned = await planHosts(st.run, hosts, (h) => hostTasks(st, h), { mode: 'check', title: taskTitle });
  return hosts.map((h) => {
    const p = planned.get(h)!;
    if ('error' in p) {
      throw new KhaError(`${h}: ${describeError(p.error)}`, {
        code: 'E_PREFLIGHT',
        exit: ExitCode.preflight,
        host: h,
        cause: p.error,
        suggestions: ['nothing was changed on any host; fix the cause and run kha reset again'],
      });
    }
    return { host: h, tasks: p.tasks ?? [] };
  });
}

/** The Plan phase: what goes on each host, the order of the load balancers, what --purge does; then the confirmation. */
async function plan(st: ResetState): Promise<void> {
  const { run, s, report } = st;
  const planned = await planAll(st);
  const extra: string[] = [];
  for (const { host, tasks } of planned) {
    report.plan[host] = changeTitles(tasks);
    const purge = tasks.find((t) => t.task.module === purgeModule)?.plan;
    if (purge) {
      report.packages[host] = purge.why;
      extra.push(`${host}: --purge: ${purge.why}`);
    }
  }
  const holders = vipHoldersFromFacts(s, run.facts);
  report.holders = holders;
  const lbChanging = s.lbHosts.filter((h) => planned.find((p) => p.host === h)?.tasks.some((t) => t.plan?.change && st.tasks.lb.includes(t.task)));
  report.order = resetOrder(lbChanging, holders, (hs) => batches(st.opts.serial, hs, '--serial'));
  const unchanged = s.lbHosts.filter((h) => !lbChanging.includes(h));
  st.lbBatches = [...(unchanged.length ? [unchanged] : []), ...report.order];
  if (report.order.length) {
    extra.push(
      `load balancers, in this order: ${report.order.map((b) => `[${b.join(', ')}]`).join(' -> ')}${holders.length ? ` (${holders.join(' and ')} holds the VIP ${s.vip}: last)` : ''}`,
    );
  }
  await showAndConfirm(run, report.plan, st.opts.confirm, extra);
}

/** After a batch of load balancers: is the VIP still on its holder, and does it answer? Says so; never stops the reset. */
async function vipStillServed(st: ResetState, done: string[]): Promise<void> {
  const { run, s, report } = st;
  const holder = report.holders[0];
  if (!holder || done.some((h) => report.holders.includes(h))) {
    run.events.info(`${done.join(', ')}: reset${holder ? `; the VIP ${s.vip} is released (its holder went last)` : ''}`);
    return;
  }
  const conn = await run.connector.get(run.host(holder));
  const [addr, tcp] = await Promise.all([
    conn.exec({ argv: ['ip', '-o', '-4', 'addr', 'show'] }),
    conn.exec({ script: tcpConnectScript(s.vip, s.frontendPort, 2) }),
  ]);
  if (holdsVip(addr.stdout, s.vip) && tcp.code === 0) {
    run.events.info(`${done.join(', ')}: reset; the VIP ${s.vip} is still on ${holder} and ${s.vip}:${s.frontendPort} answers`);
  } else {
    run.events.warn(
      `${done.join(', ')}: reset; ${holdsVip(addr.stdout, s.vip) ? `${s.vip}:${s.frontendPort} no longer answers on ${holder}` : `the VIP ${s.vip} is no longer on ${holder}`}`,
    );
  }
}

/** A second plan after the reset: nothing of kha's may be left on any host. */
async function verify(st: ResetState): Promise<void> {
  const { run, s } = st;
  const left = (await planAll(st)).filter((p) => changeTitles(p.tasks).length > 0);
  if (left.length) {
    throw new KhaError(`kha reset left ${left.map((p) => `${p.host}: ${changeTitles(p.tasks).join('; ')}`).join(' / ')}`, { code: 'E_RESET_INCOMPLETE' });
  }
  const hosts = resetHosts(s);
  run.events.info(`nothing managed by kha is left on ${hosts.join(', ')}`);
  if (!st.opts.purge) {
    run.events.info('the packages stay installed, stopped and disabled; kha reset --purge removes the ones kha installed (kha up sets everything up again)');
  }
}

export function resetPhases(): Phase<ResetState>[] {
  return [
    { title: 'Connect and gather facts', run: async (st) => connectAndGather(st.run, resetHosts(st.s)) },
    rolloutLockPhase((st) => resetHosts(st.s)),
    { title: 'Plan (nothing is changed yet)', run: plan },
    {
      title: 'Node-local proxies on the nodes: stop, disable, remove (in batches)',
      shouldRun: (st) => resetNodes(st.s).length > 0,
      run: async (st) =>
        void (await playOrThrow(st, {
          name: 'reset the node-local proxies',
          hosts: resetNodes(st.s),
          serial: st.opts.serial,
          maxFailPercentage: st.opts.maxFailPercentage,
          tasks: st.tasks.node,
          handlers: resetHandlers(),
        })),
    },
    {
      title: 'Load balancers: stop, disable, remove; the hosts without the VIP in batches, the VIP holder last',
      run: async (st) =>
        void (await playOrThrow(st, {
          name: 'reset the load balancers',
          hosts: st.s.lbHosts,
          batches: st.lbBatches,
          maxFailPercentage: st.opts.maxFailPercentage,
          tasks: st.tasks.lb,
          handlers: resetHandlers(),
          afterBatch: (hosts) => vipStillServed(st, hosts),
        })),
    },
    {
      title: 'The kha block in /etc/hosts on every host',
      run: async (st) => void (await playOrThrow(st, { name: '/etc/hosts', hosts: resetHosts(st.s), maxFailPercentage: 0, tasks: st.tasks.any })),
    },
    {
      title: 'Purge the packages kha installed and the user it created',
      shouldRun: (st) => st.opts.purge,
      run: async (st) => void (await playOrThrow(st, { name: 'purge', hosts: resetHosts(st.s), maxFailPercentage: 0, tasks: st.tasks.purge })),
    },
    { title: 'Verify: nothing of kha is left', shouldRun: (st) => !st.run.check, run: verify },
  ];
}

export async function reset(run: RunContext, s: HaSettings, opts: ResetOptions): Promise<ResetState> {
  const st: ResetState = {
    run,
    s,
    opts: { ...opts, command: 'reset' },
    plays: [],
    tasks: { lb: lbResetTasks(), node: nodeResetTasks(), any: anyHostResetTasks(), purge: purgeTasks() },
    lbBatches: [],
    // === true: oclif leaves an unset boolean flag undefined, and --json must say false
    report: { check: run.check, purge: opts.purge === true, changed: false, holders: [], order: [], hosts: resetHosts(s), plan: {}, packages: {} },
  };
  try {
    await runPhases(st, run.events, resetPhases(), run.opts.signal);
  } finally {
    st.report.changed = [...run.recap.values()].some((r) => r.changed > 0);
    run.events.emit({ type: 'recap', hosts: Object.fromEntries(run.recap) });
    run.events.emit({ type: 'result', data: st.report });
  }
  return st;
}
