// Plan before apply: every host's tasks are planned in parallel (check mode: nothing changes),
// the summary is shown, and the operator confirms (or --yes, or no TTY: no prompt).
import type { RunContext } from '../engine/context.js';
import { planHosts as planAll, probedOf, type FirstResult, type PlannedTask } from '../engine/plan-tasks.js';
import { taskTitle } from '../engine/play.js';
import type { Probe, ProbedTasks, Task } from '../engine/types.js';
import { ExitCode, KhaError } from '../errors.js';

export type Confirm = (summary: string[]) => Promise<boolean>;

/** What a plan found: host -> titles of the tasks that would change something (empty: nothing to do), and what its probes returned. */
export interface HostsPlan {
  changes: Record<string, string[]>;
  /** host -> the task objects that would change something (the same order as `changes`) */
  changed: Record<string, Task<any>[]>;
  /** for the plays of the same task objects that follow (Play.probed) */
  probed: ProbedTasks;
}

/**
 * A command that rides in the plan's round trip (kha up's lock: actions/lock.ts ridingLock): `settle`
 * gets what it printed on every host before any planning error is thrown.
 */
export interface Rider {
  probe: Probe;
  settle: (printed: ReadonlyMap<string, FirstResult>) => Promise<void>;
}

/** Plan every host (nothing is changed); the first host that cannot be planned throws (after `rider` settled). */
export async function planHosts(run: RunContext, hosts: string[], tasks: Task<any>[], rider?: Rider): Promise<HostsPlan> {
  // every task's probe in one round trip per host (engine/plan-tasks.ts)
  const planned = await planAll(run, hosts, () => tasks, { mode: 'check', title: taskTitle, ...(rider ? { first: () => rider.probe } : {}) });
  if (rider) {
    const printed = new Map<string, FirstResult>();
    for (const h of hosts) {
      const first = planned.get(h)?.first;
      if (first) printed.set(h, first);
    }
    await rider.settle(printed);
  }
  const changes: Record<string, string[]> = {};
  const changed: Record<string, Task<any>[]> = {};
  for (const h of hosts) {
    const r = planned.get(h)!;
    if ('error' in r) throw r.error;
    changes[h] = changeTitles(r.tasks ?? []);
    changed[h] = (r.tasks ?? []).filter((p) => p.plan?.change).map((p) => p.task);
  }
  return { changes, changed, probed: probedOf(planned) };
}

/** The titles of the planned tasks that would change something. Pure. */
export function changeTitles(planned: readonly PlannedTask[]): string[] {
  return planned.filter((p) => p.plan?.change).map((p) => p.title);
}

export function planSummary(plan: Record<string, string[]>, extra: string[] = []): string[] {
  const lines = Object.entries(plan).map(([h, c]) =>
    c.length ? `${h}: ${c.length} change${c.length > 1 ? 's' : ''}: ${c.join('; ')}` : `${h}: nothing to change`,
  );
  return [...lines, ...extra];
}

/** Show the plan; ask when a confirm callback is given and something would change. */
export async function showAndConfirm(run: RunContext, plan: Record<string, string[]>, confirm: Confirm | undefined, extra: string[] = []): Promise<void> {
  const summary = planSummary(plan, extra);
  for (const l of summary) run.events.info(l);
  const changes = Object.values(plan).some((c) => c.length > 0);
  if (!changes || run.check || !confirm) return;
  if (!(await confirm(summary)))
    throw new KhaError('cancelled at the confirmation prompt; nothing was changed', { code: 'E_CANCELLED', exit: ExitCode.cancelled });
}
