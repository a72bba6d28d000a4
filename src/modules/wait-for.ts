// wait_for: poll a command until a condition holds, with timeout, interval and the last output
// in the error. Waiting changes nothing on the host, so the task reports ok when it holds.
import { setTimeout as delay } from 'node:timers/promises';
import { defineModule } from '../engine/plan-tasks.js';
import type { HostContext } from '../engine/types.js';
import { TaskFailed } from '../errors.js';
import type { Command, ExecResult } from '../transport/types.js';
import { lastLines } from './util.js';

export interface WaitForParams {
  title: string;
  cmd: Command;
  /** the condition; default: exit code 0 */
  until?: (r: ExecResult) => boolean;
  timeoutMs: number;
  intervalMs?: number;
  become?: boolean;
  /** a message when the output shows it can never hold (stop waiting, fail at once) */
  failWhen?: (r: ExecResult) => string | null;
  /** extra context for the timeout error (e.g. a journal tail) */
  onTimeout?: () => Promise<string>;
}

/** waits ms; an abort ends the wait early, without an error (the loop then stops) */
const sleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

const holds = (p: WaitForParams, r: ExecResult) => (p.until ?? ((x: ExecResult) => x.code === 0))(r);

function fatal(p: WaitForParams, r: ExecResult): void {
  const why = p.failWhen?.(r);
  if (why) throw new TaskFailed(why, lastLines(`${r.stdout}\n${r.stderr}`, 8));
}

/** Poll until the condition holds (the first look, `first`, was `sinceMs` ago); the answer is the task's why. */
async function poll(ctx: HostContext, p: WaitForParams, first: ExecResult, sinceMs: number): Promise<string> {
  const t0 = Date.now() - sinceMs;
  let last = first;
  while (Date.now() - t0 < p.timeoutMs && !ctx.signal.aborted) {
    await sleep(p.intervalMs ?? 250, ctx.signal);
    last = await ctx.conn.exec(p.cmd, { become: p.become ?? false, timeoutMs: Math.max(1000, p.timeoutMs) });
    if (holds(p, last)) return `held after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    fatal(p, last);
  }
  const extra = p.onTimeout ? await p.onTimeout().catch(() => '') : '';
  throw new TaskFailed(
    `timed out after ${(p.timeoutMs / 1000).toFixed(0)} s`,
    [`last output: ${lastLines(`${last.stdout}\n${last.stderr}`, 5) || '(none)'}`, extra].filter(Boolean).join('\n'),
  );
}

export const waitForModule = defineModule<WaitForParams>({
  name: 'wait_for',
  describe: (p) => p.title,
  // the probe is the first look; when the condition does not hold yet, the waiting is the
  // decision's `wait` (never in check mode or the planning pass)
  probe: (p) => ({ cmd: p.cmd, become: p.become ?? false, timeoutMs: Math.max(1000, p.timeoutMs) }),
  decide([r], p, ctx) {
    const first = r ?? { code: null, signal: null, stdout: '', stderr: '' };
    if (holds(p, first)) return { change: false, why: `held after ${(ctx.probeMs / 1000).toFixed(1)} s` };
    fatal(p, first);
    if (ctx.check) return { change: false, why: 'does not hold yet (check mode: not waiting)' };
    // the engine's planning pass: schedule the host, the real run does the waiting
    if (ctx.planning) return { change: true, why: 'does not hold yet', apply: async () => undefined };
    return { change: false, why: 'does not hold yet', wait: (hc) => poll(hc, p, first, ctx.probeMs) };
  },
});
