// The play runner: batches x tasks in lockstep, handlers flushed once per batch, max-fail.
// Plan first (pyinfra/Terraform split): every host's tasks are planned in parallel; hosts with
// nothing to change are done at once and only hosts that change are paced through `serial`.
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { describeError, KhaError } from '../errors.js';
import type { RunContext } from './context.js';
import { isTransportError } from './context.js';
import { defineModule, earlierOf, planHosts, planTask, resolveParams } from './plan-tasks.js';
import { batches } from './serial.js';
import type { Handler, Play, PlayResult, PlayStop, ProbedTasks, Task, TaskStatus } from './types.js';
import type { Connection } from '../transport/types.js';

/** how long a host may take to answer `true` after a failed task before it counts as gone */
export const LIVENESS_TIMEOUT_MS = 10_000;
/** the pause before that question */
export const LIVENESS_DELAY_MS = 250;

/**
 * After a task failed: is the host still there? A host that dies in the middle of a task often
 * reports the task's failure first (systemctl: "Connection reset by peer" as PID 1 goes) and loses
 * the connection a moment later; one `true` on the same connection tells the two apart, so a
 * dead host is reported unreachable (exit 3), not as a failed task (exit 2). Returns the
 * transport error (or a timeout) when the host is gone, undefined when it answered.
 */
async function lostAfterFailure(conn: Connection | undefined): Promise<unknown> {
  if (!conn) return undefined;
  // give a dying host's connection a moment to drop (seen: the task's error came first, and a
  // `true` sent at once still ran while the container's processes were being killed)
  await sleep(LIVENESS_DELAY_MS);
  try {
    const r = await conn.exec({ argv: ['true'] }, { become: false, timeoutMs: LIVENESS_TIMEOUT_MS });
    if (r.timedOut) return new Error(`${conn.name}: no answer to \`true\` within ${LIVENESS_TIMEOUT_MS / 1000} s`);
    // `true` cannot fail on a healthy host: a host that cannot even fork is going down
    if (r.code !== 0)
      return new Error(
        `${conn.name}: \`true\` failed (${r.code === null ? `signal ${r.signal ?? 'unknown'}` : `exit ${r.code}`}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}): the host is going down`,
      );
    return undefined;
  } catch (e) {
    return isTransportError(e) ? e : undefined;
  }
}

/** Ansible's `meta: flush_handlers`: handlers notified so far run at this point of the play. */
export const FLUSH_HANDLERS: Task<any> = {
  name: 'flush handlers',
  meta: 'flush_handlers',
  module: defineModule({ name: 'meta', describe: () => 'flush handlers', probe: () => null, decide: () => ({ change: false, why: 'meta' }) }),
  params: {},
};

export function taskTitle(task: Task<any>, params: unknown): string {
  return task.name ?? task.module.describe(params);
}

interface StepOutcome {
  status: TaskStatus;
  changed: boolean;
}

/**
 * Run one task on one host: plan (from `probed`, an earlier plan's results, where they still
 * hold; else probing), then apply unless check mode. Emits the task event.
 */
export async function runTask(ctx: RunContext, hostName: string, task: Task<any>, isHandler = false, probed?: ProbedTasks): Promise<StepOutcome> {
  const started = Date.now();
  let title = task.name ?? 'connect';
  let conn: Connection | undefined;
  const emit = (status: TaskStatus, more: { why?: string; diff?: string; error?: string }) =>
    ctx.events.emit({ type: 'task', host: hostName, task: title, status, ...more, ms: Date.now() - started, check: ctx.check });
  try {
    const hc = await ctx.hostContext(hostName);
    conn = hc.conn;
    const skip = task.when ? !task.when(hc) : false;
    const params = resolveParams(task, hc);
    title = taskTitle(task, params);
    if (skip) {
      ctx.count(hostName, 'skipped');
      emit('skipped', { why: 'condition not met' });
      return { status: 'skipped', changed: false };
    }
    const earlier = earlierOf(probed, hostName, ctx.generation(hostName));
    const { plan } = await planTask(hc, task, params, earlier ? { earlier } : {});
    if (!plan.change) {
      ctx.count(hostName, 'ok');
      emit('ok', { why: plan.why });
      return { status: 'ok', changed: false };
    }
    if (!ctx.check) {
      ctx.touched(hostName);
      await plan.apply();
    }
    ctx.count(hostName, 'changed');
    if (task.notify?.length && !isHandler) ctx.notify(hostName, task.notify);
    if (task.clears?.length) for (const h of task.clears) ctx.notified.get(hostName)?.delete(h);
    emit('changed', { why: plan.why, ...(plan.diff && ctx.opts.diff ? { diff: plan.diff } : {}) });
    return { status: 'changed', changed: true };
  } catch (err) {
    return taskFailed(ctx, hostName, title, err, conn, emit);
  }
}

/** A task threw: the host is unreachable (the connection, or the host gone right after) or the task failed. */
async function taskFailed(
  ctx: RunContext,
  hostName: string,
  title: string,
  err: unknown,
  conn: Connection | undefined,
  emit: (status: TaskStatus, more: { error: string }) => void,
): Promise<StepOutcome> {
  const msg = describeError(err);
  const lost = isTransportError(err) ? err : await lostAfterFailure(conn);
  if (lost) {
    const why = lost === err ? msg : `${describeError(lost)} (the task had just failed: ${msg})`;
    ctx.markUnreachable(hostName, why);
    emit('unreachable', { error: why });
    return { status: 'unreachable', changed: false };
  }
  ctx.count(hostName, 'failed');
  ctx.markFailed(hostName, `${title}: ${msg}`);
  const detail = (err as { detail?: string }).detail;
  emit('failed', { error: detail ? `${msg}\n${detail}` : msg });
  return { status: 'failed', changed: false };
}

interface PlannedTask {
  title: string;
  status: 'ok' | 'skipped';
  why: string;
  ms: number;
}

/**
 * Plan every task of a host without applying anything. Returns the per-task results when nothing
 * would change (so they can be reported without a second round trip), or null when something would.
 */
async function planHost(ctx: RunContext, hostName: string, play: Play): Promise<PlannedTask[] | null> {
  const pending = () => play.flushHandlers !== false && !!play.handlers?.some((h) => ctx.notified.get(hostName)?.has(h.name));
  // the one planner (engine/plan-tasks.ts): every task's probe in one round trip
  const tasksOf = () => (pending() ? null : play.tasks.filter((t) => !t.meta));
  const opts = { mode: 'planning' as const, title: taskTitle, ...(play.probed ? { probed: play.probed } : {}) };
  const r = (await planHosts(ctx, [hostName], tasksOf, opts)).get(hostName)!;
  if ('error' in r) throw r.error;
  if (!r.tasks) return null;
  const out: PlannedTask[] = [];
  for (const p of r.tasks) {
    if (!p.plan) out.push({ title: p.title, status: 'skipped', why: 'condition not met', ms: p.ms });
    else if (p.plan.change) return null;
    else out.push({ title: p.title, status: 'ok', why: p.plan.why, ms: p.ms });
  }
  return out;
}

export async function runPlay(ctx: RunContext, play: Play): Promise<PlayResult> {
  const queue = new PQueue({ concurrency: Math.max(1, ctx.opts.forks) });
  const lost = (play.lostBefore ?? []).filter((h) => play.hosts.includes(h));
  const result: PlayResult = { play: play.name, done: [], failed: [], unreachable: [...lost], untouched: [], stopped: false };
  const all = play.hosts.filter((h) => ctx.alive(h));
  const maxFail = play.maxFailPercentage ?? 0;
  const failedInPlay = new Set<string>(lost);

  // 1. plan (not in check mode: check mode runs every task through the same path and applies nothing)
  const run: PlayRun = { ctx, play, queue, result, failedInPlay, maxFail };
  const toRun = play.planFirst !== false && !ctx.check && all.length > 1 ? await planFirst(run, all) : all;

  // 2. the hosts that change, batch after batch
  const groups = batchOrder(play, toRun);
  if (groups.length === 0 && overBudget(run)) {
    result.stopped = true;
    result.stopReason = `${failedInPlay.size} of ${play.hosts.length} hosts failed (max fail ${maxFail}%)`;
  }
  for (let bi = 0; bi < groups.length; bi++) {
    const stopped = await runBatch(run, groups, bi);
    if (!stopped) continue;
    result.stopped = true;
    result.stopReason = play.onStop ? play.onStop(stopped.stop, bi) : defaultStopReason(ctx, stopped.stop, bi);
    result.untouched.push(...groups.slice(stopped.ran ? bi + 1 : bi).flat());
    break;
  }
  return result;
}

/**
 * The plan-first pass: every host's tasks planned in parallel; a host with nothing to change
 * reports its tasks ok and is done at once. Returns the hosts that must run (something changes,
 * or they could not be planned: the real run reports that on them).
 */
async function planFirst(run: PlayRun, all: string[]): Promise<string[]> {
  const { ctx, play, queue, result, failedInPlay } = run;
  const planned = new Map<string, PlannedTask[] | null>();
  await Promise.all(
    all.map((h) =>
      queue.add(async () => {
        try {
          planned.set(h, await planHost(ctx, h, play));
        } catch (err) {
          if (isTransportError(err)) {
            // never connect twice in a run: a changed host key or failed login is not retried
            ctx.markUnreachable(h, err);
            ctx.events.emit({ type: 'task', host: h, task: 'connect', status: 'unreachable', error: describeError(err), ms: 0, check: ctx.check });
          }
          planned.set(h, null); // any other error: the real run reports it on that host
        }
      }),
    ),
  );
  // hosts lost while planning count against max fail like any other failure
  for (const h of all) if (ctx.unreachable.has(h)) failedInPlay.add(h);
  for (const h of all) {
    const tasks = planned.get(h);
    if (ctx.unreachable.has(h)) {
      result.unreachable.push(h);
      continue;
    }
    if (!tasks) continue;
    for (const t of tasks) {
      ctx.count(h, t.status);
      ctx.events.emit({ type: 'task', host: h, task: t.title, status: t.status, why: t.why, ms: t.ms, check: ctx.check });
    }
    result.done.push(h);
  }
  return all.filter((h) => planned.get(h) == null && !ctx.unreachable.has(h));
}

/** One play's run: what its batches share. */
interface PlayRun {
  ctx: RunContext;
  play: Play;
  queue: PQueue;
  result: PlayResult;
  /** hosts of the play that failed or were lost so far (counted against maxFail) */
  failedInPlay: Set<string>;
  maxFail: number;
}

/** Why a batch stopped the play; `ran`: the batch itself ran (false: its hosts are untouched). */
interface BatchStop {
  stop: PlayStop;
  ran: boolean;
}

/** The batches to run: the play's own order, or `serial` over the hosts that still have work. */
function batchOrder(play: Play, toRun: string[]): string[][] {
  if (!play.batches) return batches(play.serial, toRun, `${play.name}: serial`);
  return play.batches.map((b) => b.filter((h) => toRun.includes(h))).filter((b) => b.length > 0);
}

function overBudget(run: PlayRun): boolean {
  const n = run.play.hosts.length;
  return n > 0 && (run.failedInPlay.size / n) * 100 > run.maxFail;
}

/** One batch: the before hook, its tasks and handlers in lockstep, the after hook; a stop, or undefined to go on. */
async function runBatch(run: PlayRun, groups: string[][], bi: number): Promise<BatchStop | undefined> {
  const { ctx, play } = run;
  const batch = groups[bi]!;
  if (ctx.opts.signal.aborted) return { stop: { kind: 'interrupted' }, ran: false };
  ctx.events.emit({ type: 'batch', play: play.name, index: bi + 1, count: groups.length, hosts: batch });
  const before = await callHook(ctx, play.beforeBatch, batch, bi);
  if (before) return { stop: { kind: 'hook', hook: 'before', error: before.error }, ran: false };
  const active = await runTasks(run, batch);
  recordBatch(run, batch);
  const stop = batchStop(run, batch, active);
  if (stop) return { stop, ran: true };
  const after = await callHook(ctx, play.afterBatch, active, bi);
  if (after) return { stop: { kind: 'hook', hook: 'after', error: after.error }, ran: true };
  return undefined;
}

/** The play's tasks on the batch in lockstep, then its handlers; returns the hosts still alive. */
async function runTasks(run: PlayRun, batch: string[]): Promise<string[]> {
  const { ctx, play, queue } = run;
  let active = batch.filter((h) => ctx.alive(h));
  const settle = () => {
    for (const h of active) if (!ctx.alive(h)) run.failedInPlay.add(h);
    active = active.filter((h) => ctx.alive(h));
  };
  for (const task of play.tasks) {
    if (active.length === 0) break;
    if (task.meta === 'flush_handlers') {
      if (play.flushHandlers !== false) await flushHandlers(ctx, active, play.handlers ?? [], queue);
    } else await Promise.all(active.map((h) => queue.add(() => runTask(ctx, h, task, false, play.probed))));
    settle();
    if (ctx.opts.signal.aborted) break;
  }
  if (play.flushHandlers !== false && active.length > 0 && !ctx.opts.signal.aborted) {
    await flushHandlers(ctx, active, play.handlers ?? [], queue);
    settle();
  }
  return active;
}

function recordBatch(run: PlayRun, batch: string[]): void {
  const { ctx, result } = run;
  for (const h of batch) {
    if (ctx.unreachable.has(h)) result.unreachable.push(h);
    else if (ctx.failed.has(h)) result.failed.push(h);
    else result.done.push(h);
  }
}

/** After a batch's tasks: must the play stop (a whole batch lost, too many failures, interrupted)? */
function batchStop(run: PlayRun, batch: string[], active: string[]): PlayStop | undefined {
  const { ctx, play } = run;
  // this batch's failures: the failed hosts, then the unreachable ones
  const hosts = [...batch.filter((h) => ctx.failed.has(h) && !ctx.unreachable.has(h)), ...batch.filter((h) => ctx.unreachable.has(h))];
  if (active.length === 0 && batch.length > 0) return { kind: 'batch-failed', hosts };
  if (overBudget(run)) return { kind: 'max-fail', failed: run.failedInPlay.size, of: play.hosts.length, max: run.maxFail, hosts };
  if (ctx.opts.signal.aborted) return { kind: 'interrupted' };
  return undefined;
}

/**
 * A batch hook (not in check mode); returns its error, or undefined when it passed. A hook may
 * change any host (kha upgrade's handover restarts keepalived): every host's generation moves.
 */
async function callHook(ctx: RunContext, hook: Play['afterBatch'], hosts: string[], index: number): Promise<{ error: unknown } | undefined> {
  if (!hook || ctx.check) return undefined;
  try {
    await hook(hosts, index);
    return undefined;
  } catch (error) {
    return { error };
  } finally {
    for (const h of ctx.inventory.hosts) ctx.touched(h.name);
  }
}

/** The engine's words for a stop; a hook's error is reported as an error message too. */
function defaultStopReason(ctx: RunContext, stop: PlayStop, bi: number): string {
  switch (stop.kind) {
    case 'interrupted':
      return 'interrupted';
    case 'batch-failed':
      return `every host of batch ${bi + 1} failed or was unreachable`;
    case 'max-fail':
      return `${stop.failed} of ${stop.of} hosts failed (max fail ${stop.max}%)`;
    case 'hook': {
      const text = `${stop.hook} batch ${bi + 1}: ${describeError(stop.error)}`;
      ctx.events.emit({ type: 'message', level: 'error', text });
      return text;
    }
  }
}

export async function flushHandlers(ctx: RunContext, hosts: string[], handlers: Handler<any>[], queue?: PQueue): Promise<void> {
  const q = queue ?? new PQueue({ concurrency: Math.max(1, ctx.opts.forks) });
  for (const handler of handlers) {
    const targets = hosts.filter((h) => ctx.alive(h) && ctx.notified.get(h)?.has(handler.name));
    if (targets.length === 0) continue;
    await Promise.all(
      targets.map((h) =>
        q.add(async () => {
          // report what the handler does ("reload keepalived"), not its name
          const { name: _name, ...task } = handler;
          await runTask(ctx, h, task, true);
          ctx.notified.get(h)?.delete(handler.name);
        }),
      ),
    );
  }
}

/**
 * A play that stopped is an error for the caller to report. Its one line says where every host of
 * the play stands (done / failed / unreachable / untouched), as `kha play` and `kha upgrade` do.
 */
export class PlayStopped extends KhaError {
  constructor(readonly result: PlayResult) {
    const list = (hs: string[]) => hs.join(', ') || 'none';
    super(
      `${result.play}: stopped: ${result.stopReason ?? 'failed'}; done: ${list(result.done)}; failed: ${list(result.failed)}; unreachable: ${list(result.unreachable)}; untouched: ${list(result.untouched)}`,
      { code: 'E_PLAY_STOPPED' },
    );
  }
}
