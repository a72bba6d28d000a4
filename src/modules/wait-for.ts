// wait_for: poll a command until a condition holds, with timeout, interval and the last output
// in the error. Waiting changes nothing on the host, so the task reports ok when it holds.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Module } from '../engine/types.js';
import { TaskFailed } from '../engine/types.js';
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

export const waitForModule: Module<WaitForParams> = {
  name: 'wait_for',
  describe: (p) => p.title,
  async plan(ctx, p) {
    const ok = p.until ?? ((r: ExecResult) => r.code === 0);
    const t0 = Date.now();
    let last: ExecResult | undefined;
    for (;;) {
      last = await ctx.conn.exec(p.cmd, { become: p.become ?? false, timeoutMs: Math.max(1000, p.timeoutMs) });
      if (ok(last)) return { change: false, why: `held after ${((Date.now() - t0) / 1000).toFixed(1)} s` };
      const fatal = p.failWhen?.(last);
      if (fatal) throw new TaskFailed(fatal, lastLines(`${last.stdout}\n${last.stderr}`, 8));
      if (ctx.check) return { change: false, why: 'does not hold yet (check mode: not waiting)' };
      // the engine's planning pass: schedule the host, the real run does the waiting
      if (ctx.planning) return { change: true, why: 'does not hold yet', apply: async () => undefined };
      if (Date.now() - t0 >= p.timeoutMs || ctx.signal.aborted) break;
      // an abort ends the wait early (the loop then stops), it is not an error here
      await sleep(p.intervalMs ?? 250, undefined, { signal: ctx.signal }).catch(() => undefined);
    }
    const extra = p.onTimeout ? await p.onTimeout().catch(() => '') : '';
    throw new TaskFailed(
      `timed out after ${(p.timeoutMs / 1000).toFixed(0)} s`,
      [`last output: ${lastLines(`${last.stdout}\n${last.stderr}`, 5) || '(none)'}`, extra].filter(Boolean).join('\n'),
    );
  },
};
