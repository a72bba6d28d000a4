// k0sctl-style phases: a verb is an ordered list of titled steps. The order lives in
// src/actions/<verb>.ts only.
import { describeError } from '../errors.js';
import type { EventBus } from './events.js';

export interface Phase<C> {
  title: string;
  /** skip the phase when this returns false (e.g. nothing to start) */
  shouldRun?: (ctx: C) => boolean;
  run: (ctx: C) => Promise<void>;
}

export async function runPhases<C>(ctx: C, events: EventBus, phases: Phase<C>[], signal?: AbortSignal): Promise<void> {
  let i = 0;
  for (const phase of phases) {
    i++;
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('interrupted');
    if (phase.shouldRun && !phase.shouldRun(ctx)) continue;
    events.emit({ type: 'phase', title: phase.title, index: i, total: phases.length });
    const t0 = Date.now();
    try {
      await phase.run(ctx);
      events.emit({ type: 'phase-done', title: phase.title, ms: Date.now() - t0 });
    } catch (err) {
      events.emit({ type: 'phase-done', title: phase.title, ms: Date.now() - t0, error: describeError(err) });
      throw err;
    }
  }
}
