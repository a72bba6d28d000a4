// Plan a host's tasks in one round trip. A module names its read-only probes and decides from
// their output with a pure function (engine/types.ts), so the engine collects every task's probes,
// sends them to the host as one batched command (Connection.execBatch), and gives each module its
// own results, exactly as if they had run alone. Connections without execBatch (test fakes) get
// one exec per probe, one task after the other.
import type { RunContext } from './context.js';
import type { Connection, ExecOptions, ExecResult } from '../transport/types.js';
import type { DecideContext, Decision, DiffSpec, HostContext, Module, ModuleContext, ModuleSpec, Plan, Probe, Task } from './types.js';

export interface PlannedTask {
  task: Task<any>;
  title: string;
  /** absent when the task's `when` said no */
  plan?: Plan;
  ms: number;
}

export type TitleFn = (task: Task<any>, params: unknown) => string;

/** A module from its probe and decide; `plan` probes and decides one task alone. */
export function defineModule<P>(spec: ModuleSpec<P>): Module<P> {
  const m: Module<P> = { ...spec, plan: (hc, params) => planOne(hc, m, params) };
  return m;
}

export function resolveParams<P>(task: Task<P>, hc: HostContext): P {
  return typeof task.params === 'function' ? (task.params as (c: HostContext) => P)(hc) : task.params;
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

function probeOptions(p: Probe): ExecOptions {
  return { ...(p.become !== undefined ? { become: p.become } : {}), ...(p.timeoutMs !== undefined ? { timeoutMs: p.timeoutMs } : {}) };
}

/** A module's probes as a list (none: []). */
export function probesOf<P>(m: ModuleSpec<P>, params: P, ctx: ModuleContext): readonly Probe[] {
  const p = m.probe(params, ctx);
  return p === null ? [] : Array.isArray(p) ? p : [p as Probe];
}

/** Run probes: one alone, several in one round trip where the connection can batch. */
export async function runProbes(conn: Connection, probes: readonly Probe[]): Promise<ExecResult[]> {
  if (probes.length === 0) return [];
  if (probes.length > 1 && conn.execBatch)
    return conn.execBatch(
      probes.map((p) => p.cmd),
      batchOptions(probes.map(probeOptions)),
    );
  const out: ExecResult[] = [];
  for (const p of probes) out.push(await conn.exec(p.cmd, probeOptions(p)));
  return out;
}

/** decide()'s view of the host: data only (no connection, no signal). */
export function decideContext(hc: ModuleContext, probeMs: number): DecideContext {
  return {
    host: hc.host,
    facts: hc.facts,
    check: hc.check,
    diff: hc.diff,
    ...(hc.planning !== undefined ? { planning: hc.planning } : {}),
    ...(hc.factsCurrent !== undefined ? { factsCurrent: hc.factsCurrent } : {}),
    probeMs,
  };
}

/** A diff spec as a unified diff; `diff` is loaded on first use (a no-change run never needs it: start-up time). */
export async function renderDiff(d: DiffSpec): Promise<string> {
  if ('text' in d) return d.text;
  const { createTwoFilesPatch } = await import('diff');
  return createTwoFilesPatch(d.before === null ? '/dev/null' : d.path, d.after === null ? '/dev/null' : d.path, d.before ?? '', d.after ?? '', '', '', {
    context: 3,
  });
}

/** A decision bound to its host: the waiting done, the diff rendered (only with --diff: nothing else shows it). */
export async function toPlan(d: Decision, hc: HostContext): Promise<Plan> {
  if (!d.change) return { change: false, why: d.wait ? await d.wait(hc) : d.why };
  const diff = d.diff && hc.diff ? await renderDiff(d.diff) : undefined;
  return { change: true, why: d.why, ...(diff ? { diff } : {}), apply: () => d.apply(hc) };
}

/** Probe and decide one task alone. */
export async function planOne<P>(hc: HostContext, m: ModuleSpec<P>, params: P): Promise<Plan> {
  const probes = probesOf(m, params, hc);
  const t0 = Date.now();
  const results = await runProbes(hc.conn, probes);
  return toPlan(m.decide(results, params, decideContext(hc, Date.now() - t0)), hc);
}

type Outcome = { ok: true; plan: Plan } | { ok: false; err: unknown };

async function settle(f: () => Promise<Plan>): Promise<Outcome> {
  try {
    return { ok: true, plan: await f() };
  } catch (err) {
    return { ok: false, err };
  }
}

/**
 * Plan `tasks` on one host (nothing is applied). Results are in task order; the first task whose
 * probe or decision threw (in task order) rethrows its error once every task is decided.
 */
export async function planTasks(hc: HostContext, tasks: readonly Task<any>[], title: TitleFn, opts: { stopAtChange?: boolean } = {}): Promise<PlannedTask[]> {
  const t0 = Date.now();
  const items = tasks.map((task) => {
    const params = resolveParams(task, hc);
    return { task, params, title: title(task, params), skip: task.when ? !task.when(hc) : false };
  });

  if (!hc.conn.execBatch) {
    // one task after the other; with stopAtChange, the tasks after a change are not planned
    const out: PlannedTask[] = [];
    for (const it of items) {
      const s = Date.now();
      if (it.skip) {
        out.push({ task: it.task, title: it.title, ms: 0 });
        continue;
      }
      const plan = await planOne(hc, it.task.module, it.params);
      out.push({ task: it.task, title: it.title, plan, ms: Date.now() - s });
      if (plan.change && opts.stopAtChange) break;
    }
    return out;
  }

  // 1. every task's probes (a probe() that throws is that task's error)
  const asked = items.map((it) => {
    if (it.skip) return { ok: true as const, probes: [] as readonly Probe[] };
    try {
      return { ok: true as const, probes: probesOf(it.task.module, it.params, hc) };
    } catch (err) {
      return { ok: false as const, err };
    }
  });
  // 2. one round trip for all of them
  const flat = asked.flatMap((a) => (a.ok ? a.probes : []));
  let results: ExecResult[] = [];
  let lost: { err: unknown } | undefined;
  try {
    results = await runProbes(hc.conn, flat);
  } catch (err) {
    lost = { err };
  }
  const probeMs = Date.now() - t0;
  // 3. each module decides from its own results
  const out: PlannedTask[] = [];
  const outcomes: Outcome[] = [];
  let k = 0;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const a = asked[i]!;
    if (it.skip) {
      out.push({ task: it.task, title: it.title, ms: 0 });
      continue;
    }
    const mine = a.ok ? results.slice(k, (k += a.probes.length)) : [];
    const o: Outcome = !a.ok
      ? { ok: false, err: a.err }
      : lost && a.probes.length > 0
        ? { ok: false, err: lost.err }
        : await settle(() => toPlan(it.task.module.decide(mine, it.params, decideContext(hc, probeMs)), hc));
    outcomes.push(o);
    out.push({ task: it.task, title: it.title, ...(o.ok ? { plan: o.plan } : {}), ms: Date.now() - t0 });
  }
  const firstError = outcomes.find((o) => !o.ok);
  if (firstError && !firstError.ok) throw firstError.err;
  return out;
}

/** How a verb plans: 'check' (a plan to show: check mode, no diff) or 'planning' (a play's plan-first pass). */
export type PlanMode = 'check' | 'planning';

/** One host's plan: its planned tasks, null when it was not planned (tasksOf said so), or the error that stopped it. */
export type HostPlan = { tasks: PlannedTask[] | null } | { error: unknown };

/**
 * The planner every verb uses: each host's tasks in one round trip, hosts in parallel (through
 * `limit`, e.g. a PQueue's add, when given). Nothing is applied. `tasksOf` names a host's tasks,
 * or null when the host must not be planned (it must run anyway). 'planning' stops reading a
 * host's decisions at its first change.
 */
export async function planHosts(
  run: RunContext,
  hosts: readonly string[],
  tasksOf: (host: string) => readonly Task<any>[] | null,
  opts: { mode: PlanMode; title: TitleFn; limit?: <T>(job: () => Promise<T>) => Promise<T> },
): Promise<Map<string, HostPlan>> {
  const out = new Map<string, HostPlan>();
  const limit = opts.limit ?? (<T>(job: () => Promise<T>) => job());
  await Promise.all(
    hosts.map((h) =>
      limit(async () => {
        try {
          const base = await run.hostContext(h);
          const tasks = tasksOf(h);
          if (!tasks) return void out.set(h, { tasks: null });
          const hc: HostContext = opts.mode === 'check' ? { ...base, check: true, diff: false } : { ...base, planning: true };
          out.set(h, { tasks: await planTasks(hc, tasks, opts.title, opts.mode === 'planning' ? { stopAtChange: true } : {}) });
        } catch (error) {
          out.set(h, { error });
        }
      }),
    ),
  );
  return out;
}
