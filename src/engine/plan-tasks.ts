// Plan a host's tasks in one round trip. A module names its read-only probes and decides from
// their output with a pure function (engine/types.ts), so the engine collects every task's probes,
// sends them to the host as one batched command (Connection.execBatch), and gives each module its
// own results, exactly as if they had run alone. Connections without execBatch (test fakes) get
// one exec per probe, one task after the other. A plan records what each task's probes returned:
// a later play of the same tasks takes those results while they hold (Play.probed, earlierOf).
import { isDeepStrictEqual } from 'node:util';
import type { RunContext } from './context.js';
import type { Connection, ExecOptions, ExecResult } from '../transport/types.js';
import type {
  DecideContext,
  Decision,
  DiffSpec,
  HostContext,
  Module,
  ModuleContext,
  ModuleSpec,
  Plan,
  Probe,
  Probed,
  ProbedTasks,
  ProbeGroup,
  Task,
} from './types.js';

export interface PlannedTask {
  task: Task<any>;
  title: string;
  /** absent when the task's `when` said no */
  plan?: Plan;
  ms: number;
  /** what its probes returned (absent: skipped, nothing to probe, or it failed) */
  probed?: Probed;
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

/** Run probes: one alone, several in one round trip where the connection can batch (a group's probes as one command). */
export async function runProbes(conn: Connection, probes: readonly Probe[]): Promise<ExecResult[]> {
  if (probes.length === 0) return [];
  if (probes.length > 1 && conn.execBatch) return runBatched(conn, conn.execBatch.bind(conn), probes);
  const out: ExecResult[] = [];
  for (const p of probes) out.push(await conn.exec(p.cmd, probeOptions(p)));
  return out;
}

/** The probes of one group (and become) on a host: their positions in the batch, and the args read once. */
interface Merged {
  by: ProbeGroup;
  opts: ExecOptions;
  at: number[];
  args: string[];
}

/**
 * Merge the probes of a group into one command when two or more share it (and their become);
 * `parts` are the batch's commands: lone probes as they are, each merged group once.
 */
export function mergeProbes(probes: readonly Probe[]): { parts: Array<{ probe: number } | { merged: Merged }>; merged: Merged[] } {
  const groups = new Map<string, Merged>();
  probes.forEach((p, i) => {
    if (!p.group) return;
    const o = probeOptions(p);
    const key = `${p.group.by.name}|${String(o.become)}`;
    const m = groups.get(key) ?? { by: p.group.by, opts: o, at: [], args: [] };
    m.at.push(i);
    if (!m.args.includes(p.group.arg)) m.args.push(p.group.arg);
    groups.set(key, m);
  });
  const merged = [...groups.values()].filter((m) => m.at.length > 1);
  const inGroup = new Set(merged.flatMap((m) => m.at));
  const parts: Array<{ probe: number } | { merged: Merged }> = [];
  probes.forEach((_p, i) => {
    if (!inGroup.has(i)) return void parts.push({ probe: i });
    const m = merged.find((g) => g.at[0] === i);
    if (m) parts.push({ merged: m });
  });
  return { parts, merged };
}

async function runBatched(conn: Connection, execBatch: NonNullable<Connection['execBatch']>, probes: readonly Probe[]): Promise<ExecResult[]> {
  const { parts } = mergeProbes(probes);
  const cmds = parts.map((x) => ('probe' in x ? probes[x.probe]!.cmd : { script: x.merged.by.script(x.merged.args) }));
  const opts = parts.map((x) => ('probe' in x ? probeOptions(probes[x.probe]!) : x.merged.opts));
  const got = await execBatch(cmds, batchOptions(opts));
  const out: Array<ExecResult | undefined> = new Array(probes.length);
  parts.forEach((x, k) => {
    const r = got[k]!;
    if ('probe' in x) return void (out[x.probe] = r);
    // a batch killed or timed out while the group ran: each member gets that, as a lone probe would
    const byArg = r.code === null ? x.merged.args.map(() => r) : x.merged.by.split(r, x.merged.args);
    for (const i of x.merged.at) out[i] = byArg[x.merged.args.indexOf(probes[i]!.group!.arg)];
  });
  // what a group could not rebuild runs as its own command, in a second round trip (rare: a symlink, a failed read)
  const alone = out.flatMap((r, i) => (r === undefined ? [i] : []));
  if (alone.length) {
    const again =
      alone.length === 1
        ? [await conn.exec(probes[alone[0]!]!.cmd, probeOptions(probes[alone[0]!]!))]
        : await execBatch(
            alone.map((i) => probes[i]!.cmd),
            batchOptions(alone.map((i) => probeOptions(probes[i]!))),
          );
    alone.forEach((i, k) => (out[i] = again[k]));
  }
  return out as ExecResult[];
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

/** An earlier plan's results for a task's probes, when they still hold; undefined: probe again. */
export type Earlier = (task: Task<any>, probes: readonly Probe[]) => Probed | undefined;

/**
 * Play.probed for one host whose generation is now `generation`: a task's results hold while its
 * probes are the same as then (same commands, options) and kha has changed nothing on the host
 * since (the same generation). Otherwise undefined, and the task is probed again.
 */
export function earlierOf(probed: ProbedTasks | undefined, host: string, generation: number): Earlier | undefined {
  const mine = probed?.get(host);
  if (!mine) return undefined;
  return (task, probes) => {
    const p = mine.get(task);
    return p && p.generation === generation && isDeepStrictEqual(p.probes, probes) ? p : undefined;
  };
}

/** What a plan's probes returned, by host and task: the later plays of the same task objects take it (Play.probed). */
export function probedOf(plans: ReadonlyMap<string, HostPlan>): ProbedTasks {
  const out = new Map<string, Map<Task<any>, Probed>>();
  for (const [h, r] of plans) {
    if (!('tasks' in r) || !r.tasks) continue;
    out.set(h, new Map(r.tasks.flatMap((t) => (t.probed ? [[t.task, t.probed] as const] : []))));
  }
  return out;
}

export interface PlanTasksOptions {
  /** stop at the first change: the tasks after it are not planned (one task after the other only) */
  stopAtChange?: boolean;
  /** an earlier plan's results: the tasks they still hold for are decided from them, not probed */
  earlier?: Earlier;
  /** the host's RunContext.generation as the probes run, recorded in each task's probed (default 0) */
  generation?: number;
  /**
   * One more command for the same round trip, sent before the tasks' probes (kha up's lock):
   * what it printed, or the error that lost it, goes to onFirst.
   */
  first?: { probe: Probe; onFirst: (got: FirstResult) => void };
}

/** A promise's outcome as data: its value, or the error it rejected with. */
export type Settled<T> = { r: T } | { err: unknown };

/** `p` as a promise that never rejects (Settled): for work started early and awaited later. */
export function settled<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (r) => ({ r }),
    (err: unknown) => ({ err }),
  );
}

/** What a plan's first command (PlanTasksOptions.first) printed, or the error that lost it. */
export type FirstResult = Settled<ExecResult>;

/**
 * Probe and decide one task alone, or decide it from an earlier plan's results where they hold.
 * Returns the plan and what the probes returned.
 */
export async function planTask<P>(hc: HostContext, task: Task<P>, params: P, opts: PlanTasksOptions = {}): Promise<{ plan: Plan; probed?: Probed }> {
  const probes = probesOf(task.module, params, hc);
  const prior = probes.length ? opts.earlier?.(task, probes) : undefined;
  const t0 = Date.now();
  const results = prior ? prior.results : await runProbes(hc.conn, probes);
  const ms = prior ? prior.ms : Date.now() - t0;
  const plan = await toPlan(task.module.decide(results, params, decideContext(hc, ms)), hc);
  return { plan, ...(probes.length ? { probed: prior ?? { probes, results, ms, generation: opts.generation ?? 0 } } : {}) };
}

interface Item {
  task: Task<any>;
  params: unknown;
  title: string;
  skip: boolean;
}

/** A task's probes (a probe() that throws is that task's error), and an earlier plan's results for them where they hold. */
type Asked = { ok: true; probes: readonly Probe[]; prior?: Probed } | { ok: false; err: unknown };

type Outcome = { ok: true; plan: Plan; probed?: Probed } | { ok: false; err: unknown };

/** The probes sent in the one round trip, in task order; `lost`: the batch itself failed. */
interface Sent {
  results: ExecResult[];
  lost?: { err: unknown };
}

/**
 * Plan `tasks` on one host (nothing is applied). Results are in task order; the first task whose
 * probe or decision threw (in task order) rethrows its error once every task is decided.
 */
export async function planTasks(hc: HostContext, tasks: readonly Task<any>[], title: TitleFn, opts: PlanTasksOptions = {}): Promise<PlannedTask[]> {
  const t0 = Date.now();
  const items: Item[] = tasks.map((task) => {
    const params = resolveParams(task, hc);
    return { task, params, title: title(task, params), skip: task.when ? !task.when(hc) : false };
  });
  if (!hc.conn.execBatch) {
    if (opts.first) opts.first.onFirst(await settled(runProbes(hc.conn, [opts.first.probe]).then(([r]) => r!)));
    return planEach(hc, items, opts);
  }
  // 1. every task's probes; 2. one round trip for those an earlier plan does not answer (and the first command)
  const asked = items.map((it) => ask(hc, it, opts.earlier));
  const sent = await send(hc.conn, asked, opts.first);
  const probeMs = Date.now() - t0;
  // 3. each module decides from its own results
  const out: PlannedTask[] = [];
  let failed: { err: unknown } | undefined;
  let k = 0;
  for (const [i, it] of items.entries()) {
    const a = asked[i]!;
    if (it.skip) {
      out.push({ task: it.task, title: it.title, ms: 0 });
      continue;
    }
    const mine = a.ok && !a.prior ? sent.results.slice(k, (k += a.probes.length)) : [];
    const o = await decideOne(hc, it, a, { mine, sent, probeMs, generation: opts.generation ?? 0 });
    if (!o.ok) failed ??= o;
    out.push({ task: it.task, title: it.title, ...(o.ok ? { plan: o.plan, ...(o.probed ? { probed: o.probed } : {}) } : {}), ms: Date.now() - t0 });
  }
  if (failed) throw failed.err;
  return out;
}

/** Without execBatch: one task after the other; with stopAtChange, the tasks after a change are not planned. */
async function planEach(hc: HostContext, items: Item[], opts: PlanTasksOptions): Promise<PlannedTask[]> {
  const out: PlannedTask[] = [];
  for (const it of items) {
    const s = Date.now();
    if (it.skip) {
      out.push({ task: it.task, title: it.title, ms: 0 });
      continue;
    }
    const { plan, probed } = await planTask(hc, it.task, it.params, opts);
    out.push({ task: it.task, title: it.title, plan, ...(probed ? { probed } : {}), ms: Date.now() - s });
    if (plan.change && opts.stopAtChange) break;
  }
  return out;
}

function ask(hc: HostContext, it: Item, earlier: Earlier | undefined): Asked {
  if (it.skip) return { ok: true, probes: [] };
  try {
    const probes = probesOf(it.task.module, it.params, hc);
    const prior = probes.length ? earlier?.(it.task, probes) : undefined;
    return { ok: true, probes, ...(prior ? { prior } : {}) };
  } catch (err) {
    return { ok: false, err };
  }
}

/** The probes no earlier plan answers, in one round trip, after the first command when there is one. */
async function send(conn: Connection, asked: readonly Asked[], first?: PlanTasksOptions['first']): Promise<Sent> {
  const flat = asked.flatMap((a) => (a.ok && !a.prior ? a.probes : []));
  try {
    const results = await runProbes(conn, first ? [first.probe, ...flat] : flat);
    if (first) first.onFirst({ r: results[0]! });
    return { results: first ? results.slice(1) : results };
  } catch (err) {
    first?.onFirst({ err });
    return { results: [], lost: { err } };
  }
}

/** One task's decision from its own results (this round trip's, or the earlier plan's); a lost batch fails the tasks that were in it. */
async function decideOne(hc: HostContext, it: Item, a: Asked, r: { mine: ExecResult[]; sent: Sent; probeMs: number; generation: number }): Promise<Outcome> {
  if (!a.ok) return { ok: false, err: a.err };
  if (!a.prior && r.sent.lost && a.probes.length > 0) return { ok: false, err: r.sent.lost.err };
  const results = a.prior?.results ?? r.mine;
  const ms = a.prior?.ms ?? r.probeMs;
  const probed = a.probes.length ? (a.prior ?? { probes: a.probes, results, ms, generation: r.generation }) : undefined;
  try {
    const plan = await toPlan(it.task.module.decide(results, it.params, decideContext(hc, ms)), hc);
    return { ok: true, plan, ...(probed ? { probed } : {}) };
  } catch (err) {
    return { ok: false, err };
  }
}

/** How a verb plans: 'check' (a plan to show: check mode, no diff) or 'planning' (a play's plan-first pass). */
export type PlanMode = 'check' | 'planning';

/**
 * One host's plan: its planned tasks, null when it was not planned (tasksOf said so), or the error
 * that stopped it; and what the first command (planHosts' `first`) printed, when one was sent.
 */
export type HostPlan = ({ tasks: PlannedTask[] | null } | { error: unknown }) & { first?: FirstResult };

/**
 * The planner every verb uses: each host's tasks in one round trip, hosts in parallel (through
 * `limit`, e.g. a PQueue's add, when given). Nothing is applied. `tasksOf` names a host's tasks,
 * or null when the host must not be planned (it must run anyway). 'planning' stops reading a
 * host's decisions at its first change. `probed`: an earlier plan's results, taken where they
 * still hold (Play.probed) instead of probing again.
 */
export async function planHosts(
  run: RunContext,
  hosts: readonly string[],
  tasksOf: (host: string) => readonly Task<any>[] | null,
  opts: {
    mode: PlanMode;
    title: TitleFn;
    limit?: <T>(job: () => Promise<T>) => Promise<T>;
    probed?: ProbedTasks;
    /** one more command per host, in the same round trip as the probes (HostPlan.first) */
    first?: (host: string) => Probe;
  },
): Promise<Map<string, HostPlan>> {
  const out = new Map<string, HostPlan>();
  const limit = opts.limit ?? (<T>(job: () => Promise<T>) => job());
  await Promise.all(
    hosts.map((h) =>
      limit(async () => {
        const probe = opts.first?.(h);
        let first: FirstResult | undefined;
        const withFirst = () => (first ? { first } : {});
        try {
          const base = await run.hostContext(h);
          const tasks = tasksOf(h);
          if (!tasks) {
            if (probe) first = await settled(runProbes(base.conn, [probe]).then(([r]) => r!));
            return void out.set(h, { tasks: null, ...withFirst() });
          }
          const hc: HostContext = opts.mode === 'check' ? { ...base, check: true, diff: false } : { ...base, planning: true };
          const generation = run.generation(h);
          const earlier = earlierOf(opts.probed, h, generation);
          const planned = await planTasks(hc, tasks, opts.title, {
            ...(opts.mode === 'planning' ? { stopAtChange: true } : {}),
            ...(earlier ? { earlier } : {}),
            ...(probe ? { first: { probe, onFirst: (got: FirstResult) => void (first = got) } } : {}),
            generation,
          });
          out.set(h, { tasks: planned, ...withFirst() });
        } catch (error) {
          // the host could not be reached or planned: the first command was lost with it, or ran before
          if (probe && !first) first = { err: error };
          out.set(h, { error, ...withFirst() });
        }
      }),
    ),
  );
  return out;
}
