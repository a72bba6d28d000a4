// Plan before apply: every host's tasks are planned in parallel (check mode: nothing changes),
// the summary is shown, and the operator confirms (or --yes, or no TTY: no prompt).
import type { RunContext } from '../engine/context.js';
import { planTasks } from '../engine/plan-tasks.js';
import type { HostContext, Task } from '../engine/types.js';
import { ExitCode, KhaError } from '../errors.js';

export type Confirm = (summary: string[]) => Promise<boolean>;

/** host -> titles of the tasks that would change something (empty: nothing to do). */
export async function planHosts(run: RunContext, hosts: string[], tasks: Task<any>[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  await Promise.all(
    hosts.map(async (h) => {
      const hc = await run.hostContext(h);
      const ctx: HostContext = { ...hc, check: true, diff: false };
      // every task's probe in one round trip per host (engine/plan-tasks.ts)
      const planned = await planTasks(ctx, tasks, (t, params) => t.name ?? t.module.describe(params));
      out[h] = planned.filter((p) => p.plan?.change).map((p) => p.title);
    }),
  );
  return out;
}

export function planSummary(plan: Record<string, string[]>, extra: string[] = []): string[] {
  const lines = Object.entries(plan).map(([h, c]) => (c.length ? `${h}: ${c.length} change${c.length > 1 ? 's' : ''}: ${c.join('; ')}` : `${h}: nothing to change`));
  return [...lines, ...extra];
}

/** Show the plan; ask when a confirm callback is given and something would change. */
export async function showAndConfirm(run: RunContext, plan: Record<string, string[]>, confirm: Confirm | undefined, extra: string[] = []): Promise<void> {
  const summary = planSummary(plan, extra);
  for (const l of summary) run.events.info(l);
  const changes = Object.values(plan).some((c) => c.length > 0);
  if (!changes || run.check || !confirm) return;
  if (!(await confirm(summary))) throw new KhaError('cancelled at the confirmation prompt; nothing was changed', { code: 'E_CANCELLED', exit: ExitCode.cancelled });
}
