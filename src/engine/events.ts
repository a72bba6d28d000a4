// The engine emits events; sinks print. Nothing else writes to stdout.
import type { HostRecap, TaskStatus } from './types.js';

export type RunEvent =
  | { type: 'phase'; title: string; index: number; total: number }
  | { type: 'phase-done'; title: string; ms: number; error?: string }
  | { type: 'batch'; play: string; index: number; count: number; hosts: string[] }
  | { type: 'task'; host: string; task: string; status: TaskStatus; why?: string; diff?: string; error?: string; ms: number; check: boolean }
  | { type: 'message'; level: 'info' | 'warn' | 'error' | 'debug'; host?: string; text: string }
  | { type: 'command'; host: string; command: string; code: number | null; ms: number; stdout?: string; stderr?: string }
  | { type: 'recap'; hosts: Record<string, HostRecap> }
  | { type: 'result'; data: unknown };

export interface Sink {
  emit(e: RunEvent): void;
  close?(): Promise<void> | void;
}

/** Fans events out to sinks, masking secrets in every string first. */
export class EventBus {
  private sinks: Sink[] = [];
  constructor(private readonly maskFn: (s: string) => string = (s) => s) {}

  add(sink: Sink): void {
    this.sinks.push(sink);
  }

  emit(e: RunEvent): void {
    const masked = maskDeep(e, this.maskFn) as RunEvent;
    for (const s of this.sinks) s.emit(masked);
  }

  info(text: string, host?: string): void {
    this.emit({ type: 'message', level: 'info', text, ...(host ? { host } : {}) });
  }
  warn(text: string, host?: string): void {
    this.emit({ type: 'message', level: 'warn', text, ...(host ? { host } : {}) });
  }
  debug(text: string, host?: string): void {
    this.emit({ type: 'message', level: 'debug', text, ...(host ? { host } : {}) });
  }

  async close(): Promise<void> {
    for (const s of this.sinks) await s.close?.();
  }
}

function maskDeep(v: unknown, mask: (s: string) => string): unknown {
  if (typeof v === 'string') return mask(v);
  if (Array.isArray(v)) return v.map((x) => maskDeep(x, mask));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = maskDeep(x, mask);
    return out;
  }
  return v;
}
