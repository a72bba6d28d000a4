// What every rollout verb (up, add-master, remove-master, upgrade) shares: the run's state, its
// options and result, and the few steps each of them takes the same way (connect and gather, lock,
// run a play or stop). Split out of up.ts so that actions/nodes.ts and up.ts no longer import each
// other (dependency-cruiser's no-circular rule, .dependency-cruiser.cjs).
import type { RunContext } from '../engine/context.js';
import type { Phase } from '../engine/phases.js';
import { runPlay, PlayStopped } from '../engine/play.js';
import type { Handler, Play, PlayResult, SerialSpec, Task } from '../engine/types.js';
import { ExitCode, KhaError, describeError } from '../errors.js';
import type { HaSettings } from '../inventory/settings.js';
import type { HostNet } from '../net/host-net.js';
import type { Confirm } from './plan.js';
import { serviceModule } from '../modules/index.js';
import { lockPhase } from './lock.js';

export interface UpOptions {
  serial: SerialSpec;
  maxFailPercentage?: number;
  /** asked before the first change (kha shows the plan either way) */
  confirm?: Confirm;
  /** remove a lock a previous run left behind */
  breakLock?: boolean;
  /** the command name recorded in the lock */
  command?: string;
}

/**
 * What every rollout verb's phases share: the run, the settings, the options and the plays run so
 * far. What a phase finds (preflight's network and VIP holders, Verify's result) is not here: the
 * phase returns it and the verb hands it to the phases after it (Found, engine/phases.ts).
 */
export interface UpState {
  run: RunContext;
  s: HaSettings;
  opts: UpOptions;
  plays: PlayResult[];
}

/** What preflight found before anything changed: each load balancer's network, and who holds the VIP. */
export interface Preflight {
  net: Record<string, HostNet>;
  holders: string[];
}

/**
 * One kha run at a time: every host gets /run/kha.lock for the duration of a changing command,
 * given back in the phase's clean-up however the verb ends (actions/lock.ts lockPhase).
 */
export function rolloutLockPhase<S extends UpState>(hosts: (st: S) => string[]): Phase<S> {
  return lockPhase<S>('Lock the hosts (one kha run at a time)', (st) => ({
    run: st.run,
    hosts: hosts(st),
    request: { command: st.opts.command ?? 'up', breakLock: st.opts.breakLock ?? false },
  }));
}

export interface UpResult {
  vip: string;
  frontendPort: number;
  holder: string | null;
  endpoint: string;
  hosts: Array<{
    name: string;
    address: string;
    interface: string;
    priority: number;
    primary: boolean;
    holdsVip: boolean;
    backendsUp?: number;
    backendsTotal?: number;
  }>;
  changed: boolean;
  /** apiservers haproxy on the holder counts up */
  apiserversUp: number;
  /** no apiserver answers yet (before kubeadm init): the run succeeds and ends with nextSteps */
  bootstrap: boolean;
  /** what to run next (kubeadm init, then the joins), when bootstrap */
  nextSteps?: string[];
}

/**
 * Connect to `hosts` and gather their facts in parallel, reporting each host as a task
 * (ok with its OS, or unreachable); returns the hosts that could not be reached, in host order.
 */
export async function gatherHosts(run: RunContext, hosts: string[]): Promise<Array<{ host: string; err: unknown }>> {
  const results = await Promise.allSettled(hosts.map((h) => run.facts0(h)));
  const bad: Array<{ host: string; err: unknown }> = [];
  results.forEach((r, i) => {
    const host = hosts[i]!;
    const base = { type: 'task' as const, host, task: 'connect and gather facts', ms: 0, check: run.check };
    if (r.status === 'rejected') {
      run.markUnreachable(host, r.reason);
      run.events.emit({ ...base, status: 'unreachable', error: describeError(r.reason) });
      bad.push({ host, err: r.reason });
    } else {
      run.count(host, 'ok');
      run.events.emit({ ...base, status: 'ok', why: `${r.value.os.prettyName}, ${r.value.pkgMgr ?? 'no package manager'}` });
    }
  });
  return bad;
}

/** Connect to every host and gather facts in parallel; unreachable hosts stop the run before any change. */
export async function connectAndGather(run: RunContext, hosts: string[]): Promise<void> {
  const bad = await gatherHosts(run, hosts);
  if (bad.length === 0) return;
  const names = bad.map((b) => b.host);
  const first = bad[0]!.err;
  throw new KhaError(
    `${names.length === 1 ? `${names[0]} is` : `${names.join(', ')} are`} unreachable: ${describeError(first).replace(new RegExp(`^${names[0]}: `), '')}; nothing was changed on any host`,
    { code: 'E_UNREACHABLE', exit: ExitCode.unreachable, fatal: first instanceof KhaError && first.fatal },
  );
}

export async function playOrThrow(st: UpState, play: Play): Promise<PlayResult> {
  return acceptPlay(st, await runPlay(st.run, play));
}

/** A play's result: recorded, and thrown as PlayStopped when it stopped or a host failed (exit 3 when hosts were only unreachable). */
export function acceptPlay(st: UpState, r: PlayResult): PlayResult {
  st.plays.push(r);
  if (r.stopped || r.failed.length || r.unreachable.length) {
    const err = new PlayStopped(r);
    if (r.unreachable.length && !r.failed.length) Object.assign(err, { exit: ExitCode.unreachable });
    throw err;
  }
  return r;
}

/** The units that carry the VIP and its traffic: restarting one of them interrupts the host's service. */
export const VIP_UNITS: readonly string[] = ['keepalived.service', 'haproxy.service'];

/** The unit a task or handler interrupts when it runs (its module says: a restart, a stop), or null. Pure. */
function interrupted(t: Task<any>): string | null {
  return typeof t.params === 'function' ? null : (t.module.interrupts?.(t.params) ?? null);
}

/**
 * Does applying these changes interrupt the host's service? The modules say which unit each
 * changed task, or a handler it notifies, restarts or stops (a keepalived restart after a
 * keepalived.conf or package change, a haproxy restart after a unit drop-in); it does when that
 * is keepalived or haproxy. A haproxy reload, or a restart of the metrics exporter, does not. Pure.
 */
export function interruptsService(changed: Task<any>[], handlers: Handler<any>[]): boolean {
  const byName = new Map(handlers.map((h) => [h.name, h]));
  const vip = (t: Task<any> | undefined) => t !== undefined && VIP_UNITS.includes(interrupted(t) ?? '');
  return changed.some((t) => vip(t) || (t.notify ?? []).some((n) => vip(byName.get(n))));
}

/**
 * Do these changes touch VRRP on the host, so that a batch must give it an advert interval to
 * settle before the VIP is checked? Yes when a service starts or restarts (a service task, or a
 * handler that interrupts); no for changes that only reload haproxy (new workers take over, the
 * old ones finish their connections, keepalived never notices). Pure.
 */
export function touchesVrrp(changed: Task<any>[], handlers: Handler<any>[]): boolean {
  return interruptsService(changed, handlers) || changed.some((t) => t.module === serviceModule);
}
