// The play runner: batches x tasks in lockstep, handlers flushed once per batch, max-fail.
// Plan first (pyinfra/Terraform split): every host's tasks are planned in parallel; hosts with
// nothing to change are done at once and only hosts that change are paced through `serial`.
import PQueue from 'p-queue';
import { describeError, KhaError } from '../errors.js';
import type { RunContext } from './context.js';
import { isTransportError } from './context.js';
import { defineModule, planHosts, resolveParams } from './plan-tasks.js';
import { batches } from './serial.js';
import type { Handler, Plan, Play, PlayResult, Task, TaskStatus } from './types.js';
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
  await new Promise((r) => setTimeout(r, LIVENESS_DELAY_MS));
  try {
    const r = await conn.exec({ argv: ['true'] }, { become: false, timeoutMs: LIVENESS_TIMEOUT_MS });
    if (r.timedOut) return new Error(`${conn.name}: no answer to \`true\` within ${LIVENESS_TIMEOUT_MS / 1000} s`);
    // `true` cannot fail on a healthy host: a host that cannot even fork is going down
    if (r.code !== 0) return new Error(`${conn.name}: \`true\` failed (${r.code === null ? `signal ${r.signal ?? 'unknown'}` : `exit ${r.code}`}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''}): the host is going down`);
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

/** Run one task on one host: plan, then apply unless check mode. Emits the task event. */
export async function runTask(ctx: RunContext, hostName: string, task: Task<any>, isHandler = false): Promise<StepOutcome> {
  const started = Date.now();
  let title = task.name ?? 'connect';
  let conn: Connection | undefined;
  try {
    const hc = await ctx.hostContext(hostName);
    conn = hc.conn;
    if (task.when && !task.when(hc)) {
      const params = resolveParams(task, hc);
      title = taskTitle(task, params);
      ctx.count(hostName, 'skipped');
      ctx.events.emit({ type: 'task', host: hostName, task: title, status: 'skipped', why: 'condition not met', ms: Date.now() - started, check: ctx.check });
      return { status: 'skipped', changed: false };
    }
    const params = resolveParams(task, hc);
    title = taskTitle(task, params);
    const plan: Plan = await task.module.plan(hc, params);
    if (!plan.change) {
      ctx.count(hostName, 'ok');
      ctx.events.emit({ type: 'task', host: hostName, task: title, status: 'ok', why: plan.why, ms: Date.now() - started, check: ctx.check });
      return { status: 'ok', changed: false };
    }
    if (!ctx.check) await plan.apply();
    ctx.count(hostName, 'changed');
    if (task.notify?.length && !isHandler) ctx.notify(hostName, task.notify);
    if (task.clears?.length) for (const h of task.clears) ctx.notified.get(hostName)?.delete(h);
    ctx.events.emit({
      type: 'task',
      host: hostName,
      task: title,
      status: 'changed',
      why: plan.why,
      ...(plan.diff && ctx.opts.diff ? { diff: plan.diff } : {}),
      ms: Date.now() - started,
      check: ctx.check,
    });
    return { status: 'changed', changed: true };
  } catch (err) {
    const msg = describeError(err);
    const lost = isTransportError(err) ? err : await lostAfterFailure(conn);
    if (lost) {
      const why = lost === err ? msg : `${describeError(lost)} (the task had just failed: ${msg})`;
      ctx.markUnreachable(hostName, why);
      ctx.events.emit({ type: 'task', host: hostName, task: title, status: 'unreachable', error: why, ms: Date.now() - started, check: ctx.check });
      return { status: 'unreachable', changed: false };
    }
    ctx.count(hostName, 'failed');
    ctx.markFailed(hostName, `${title}: ${msg}`);
    const detail = (err as { detail?: string }).detail;
    ctx.events.emit({
      type: 'task',
      host: hostName,
      task: title,
      status: 'failed',
      error: detail ? `${msg}\n${detail}` : msg,
      ms: Date.now() - started,
      check: ctx.check,
    });
    return { status: 'failed', changed: false };
  }
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
  const r = (await planHosts(ctx, [hostName], () => (pending() ? null : play.tasks.filter((t) => !t.meta)), { mode: 'planning', title: taskTitle })).get(hostName)!;
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
  let toRun = all;
  if (play.planFirst !== false && !ctx.check && all.length > 1) {
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
    toRun = all.filter((h) => planned.get(h) == null && !ctx.unreachable.has(h));
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
  }

  const groups = batches(play.serial, toRun, `${play.name}: serial`);
  if (groups.length === 0 && play.hosts.length && (failedInPlay.size / play.hosts.length) * 100 > maxFail) {
    result.stopped = true;
    result.stopReason = `${failedInPlay.size} of ${play.hosts.length} hosts failed (max fail ${maxFail}%)`;
  }
  for (let bi = 0; bi < groups.length; bi++) {
    const batch = groups[bi]!;
    if (ctx.opts.signal.aborted) {
      result.untouched.push(...groups.slice(bi).flat());
      result.stopped = true;
      result.stopReason = 'interrupted';
      break;
    }
    ctx.events.emit({ type: 'batch', play: play.name, index: bi + 1, count: groups.length, hosts: batch });
    let active = batch.filter((h) => ctx.alive(h));
    for (const task of play.tasks) {
      if (active.length === 0) break;
      if (task.meta === 'flush_handlers') {
        if (play.flushHandlers !== false) await flushHandlers(ctx, active, play.handlers ?? [], queue);
      } else await Promise.all(active.map((h) => queue.add(() => runTask(ctx, h, task))));
      for (const h of active) if (!ctx.alive(h)) failedInPlay.add(h);
      active = active.filter((h) => ctx.alive(h));
      if (ctx.opts.signal.aborted) break;
    }
    if (play.flushHandlers !== false && active.length > 0 && !ctx.opts.signal.aborted) {
      await flushHandlers(ctx, active, play.handlers ?? [], queue);
      for (const h of active) if (!ctx.alive(h)) failedInPlay.add(h);
      active = active.filter((h) => ctx.alive(h));
    }
    for (const h of batch) {
      if (ctx.unreachable.has(h)) result.unreachable.push(h);
      else if (ctx.failed.has(h)) result.failed.push(h);
      else result.done.push(h);
    }
    const failPct = play.hosts.length ? (failedInPlay.size / play.hosts.length) * 100 : 0;
    let stop: string | undefined;
    if (active.length === 0 && batch.length > 0) stop = `every host of batch ${bi + 1} failed or was unreachable`;
    else if (failPct > maxFail) stop = `${failedInPlay.size} of ${play.hosts.length} hosts failed (max fail ${maxFail}%)`;
    else if (ctx.opts.signal.aborted) stop = 'interrupted';
    if (!stop && play.afterBatch && !ctx.check) {
      try {
        await play.afterBatch(active, bi);
      } catch (err) {
        stop = `after batch ${bi + 1}: ${describeError(err)}`;
        ctx.events.emit({ type: 'message', level: 'error', text: stop });
      }
    }
    if (stop) {
      result.stopped = true;
      result.stopReason = stop;
      result.untouched.push(...groups.slice(bi + 1).flat());
      break;
    }
  }
  return result;
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
