// Plan a host's tasks in one round trip. Every module's plan() starts with one read-only probe
// (stat, sha256, systemctl show, ...); planned one after the other, a host with ten tasks costs
// ten round trips before anything is known. Here every plan() runs at once against a connection
// that holds back its first exec; once each plan has either asked for its probe or finished, the
// probes go to the host as one batched command (Connection.execBatch) and each plan gets its own
// result, as if it had run alone. Further commands of a plan (rare while planning) go straight
// through. Connections without execBatch (test fakes) are planned one task after the other.
import type { Command, Connection, ExecOptions, ExecResult } from '../transport/types.js';
import type { HostContext, Plan, Task } from './types.js';

export interface PlannedTask {
  task: Task<any>;
  title: string;
  /** absent when the task's `when` said no */
  plan?: Plan;
  ms: number;
}

interface Held {
  cmd: Command;
  opts: ExecOptions;
  resolve: (r: ExecResult) => void;
  reject: (e: unknown) => void;
}

function resolveParams(task: Task<any>, hc: HostContext): unknown {
  return typeof task.params === 'function' ? (task.params as (c: HostContext) => unknown)(hc) : task.params;
}

/** Options for the whole batch: become when any part becomes; the parts' timeouts add up. */
export function batchOptions(parts: readonly ExecOptions[]): ExecOptions {
  const become = parts.some((o) => o.become === true) ? true : parts.some((o) => o.become === undefined) ? undefined : false;
  const timeouts = parts.map((o) => o.timeoutMs);
  const signal = parts.find((o) => o.signal)?.signal;
  return {
    ...(become !== undefined ? { become } : {}),
    ...(timeouts.every((t) => t !== undefined) ? { timeoutMs: timeouts.reduce((a, b) => a! + b!, 0) } : {}),
    ...(signal ? { signal } : {}),
  };
}

/**
 * Plan `tasks` on one host (nothing is applied). Results are in task order; the first task whose
 * plan threw (in task order) rethrows its error after every plan has settled.
 */
export async function planTasks(
  hc: HostContext,
  tasks: readonly Task<any>[],
  title: (task: Task<any>, params: unknown) => string,
  opts: { stopAtChange?: boolean } = {},
): Promise<PlannedTask[]> {
  const t0 = Date.now();
  const items = tasks.map((task) => {
    const params = resolveParams(task, hc);
    return { task, params, title: title(task, params), skip: task.when ? !task.when(hc) : false };
  });
  const real = hc.conn;
  const active = items.filter((it) => !it.skip);

  if (!real.execBatch || active.length < 2) {
    // one task after the other; with stopAtChange, the tasks after a change are not planned
    const out: PlannedTask[] = [];
    for (const it of items) {
      const s = Date.now();
      if (it.skip) {
        out.push({ task: it.task, title: it.title, ms: 0 });
        continue;
      }
      const plan: Plan = await it.task.module.plan(hc, it.params);
      out.push({ task: it.task, title: it.title, plan, ms: Date.now() - s });
      if (plan.change && opts.stopAtChange) break;
    }
    return out;
  }

  const held: Array<Held | undefined> = active.map(() => undefined);
  let waiting = active.length;
  let allArrived!: () => void;
  const arrived = new Promise<void>((r) => (allArrived = r));
  const arrive = () => {
    if (--waiting === 0) allArrived();
  };
  const ms: number[] = active.map(() => 0);

  const settled = active.map((it, i) => {
    let asked = false;
    let hasArrived = false;
    const arriveOnce = () => {
      if (hasArrived) return;
      hasArrived = true;
      arrive();
    };
    const conn: Connection = {
      name: real.name,
      stats: real.stats,
      exec: (cmd, opts = {}) => {
        if (asked) return real.exec(cmd, opts);
        asked = true;
        if (opts.stdin !== undefined) {
          // not batchable: runs alone; this plan arrives when it has settled
          return real.exec(cmd, opts);
        }
        return new Promise<ExecResult>((resolve, reject) => {
          held[i] = { cmd, opts, resolve, reject };
          arriveOnce();
        });
      },
      upload: (content, path, opts) => real.upload(content, path, opts),
      close: () => real.close(),
    };
    const p = (async () => it.task.module.plan({ ...hc, conn }, it.params))();
    return p.then(
      (plan) => {
        ms[i] = Date.now() - t0;
        arriveOnce();
        return { ok: true as const, plan };
      },
      (err: unknown) => {
        ms[i] = Date.now() - t0;
        arriveOnce();
        return { ok: false as const, err };
      },
    );
  });

  await arrived;
  const parts = held.filter((h): h is Held => h !== undefined);
  if (parts.length === 1) {
    real.exec(parts[0]!.cmd, parts[0]!.opts).then(parts[0]!.resolve, parts[0]!.reject);
  } else if (parts.length > 1) {
    real.execBatch(parts.map((p) => p.cmd), batchOptions(parts.map((p) => p.opts))).then(
      (rs) => parts.forEach((p, k) => p.resolve(rs[k]!)),
      (err: unknown) => parts.forEach((p) => p.reject(err)),
    );
  }
  const results = await Promise.all(settled);

  const firstError = results.find((r) => !r.ok);
  if (firstError && !firstError.ok) throw firstError.err;
  let k = 0;
  return items.map((it) => {
    if (it.skip) return { task: it.task, title: it.title, ms: 0 };
    const i = k++;
    const r = results[i]!;
    return { task: it.task, title: it.title, plan: (r as { plan: Plan }).plan, ms: ms[i]! };
  });
}
