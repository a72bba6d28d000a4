// k0sctl-style phases: a verb is an ordered list of titled steps. The order lives in
// src/actions/<verb>.ts only.
import { describeError } from '../errors.js';
import type { EventBus } from './events.js';

export interface Phase<C> {
  title: string;
  /** skip the phase when this returns false (e.g. nothing to start) */
  shouldRun?: (ctx: C) => boolean;
  run: (ctx: C) => Promise<void>;
  /**
   * Undo what the phase holds (the lock): run once the verb ends, whether it succeeded or not,
   * for every phase that started, in reverse order. It should not throw; if it does, the error is
   * reported and the other clean-ups still run.
   */
  cleanup?: (ctx: C) => Promise<void>;
}

export async function runPhases<C>(ctx: C, events: EventBus, phases: Phase<C>[], signal?: AbortSignal): Promise<void> {
  const started: Phase<C>[] = [];
  try {
    let i = 0;
    for (const phase of phases) {
      i++;
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('interrupted');
      if (phase.shouldRun && !phase.shouldRun(ctx)) continue;
      started.push(phase);
      await runOne(ctx, events, phase, i, phases.length);
    }
  } finally {
    await cleanUp(ctx, events, started);
  }
}

async function runOne<C>(ctx: C, events: EventBus, phase: Phase<C>, index: number, total: number): Promise<void> {
  events.emit({ type: 'phase', title: phase.title, index, total });
  const t0 = Date.now();
  try {
    await phase.run(ctx);
    events.emit({ type: 'phase-done', title: phase.title, ms: Date.now() - t0 });
  } catch (err) {
    events.emit({ type: 'phase-done', title: phase.title, ms: Date.now() - t0, error: describeError(err) });
    throw err;
  }
}

/** The clean-ups of the phases that started, last first; one failing does not skip the others. */
async function cleanUp<C>(ctx: C, events: EventBus, started: Phase<C>[]): Promise<void> {
  for (const phase of [...started].reverse()) {
    if (!phase.cleanup) continue;
    try {
      await phase.cleanup(ctx);
    } catch (err) {
      events.warn(`${phase.title}: clean-up failed: ${describeError(err)}`);
    }
  }
}

/**
 * What one phase finds and later phases read, as k0sctl's phases hold their findings: the phase
 * that finds it sets it once; reading it before then is a programming error and throws, where an
 * optional field on the shared state would have read as "nothing" (no holder, no network).
 */
export class Found<T> {
  private value: { v: T } | undefined;

  constructor(private readonly what: string) {}

  set(v: T): T {
    if (this.value) throw new Error(`${this.what} was found twice`);
    this.value = { v };
    return v;
  }

  get(): T {
    if (!this.value) throw new Error(`${this.what} is read before the phase that finds it ran`);
    return this.value.v;
  }

  /** the value, or undefined when its phase did not run (skipped: check mode, nothing to do) */
  peek(): T | undefined {
    return this.value?.v;
  }
}
