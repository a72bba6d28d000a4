// The engine's contracts: modules plan (compare facts with the wanted state), the engine decides
// "changed" (a plan needed work and its apply() succeeded). Check mode never calls apply().
import type { InventoryHost } from '../inventory/types.js';
import type { Connection } from '../transport/types.js';
import type { Facts } from '../facts/types.js';

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped';

export interface HostContext {
  host: InventoryHost;
  conn: Connection;
  facts: Facts;
  check: boolean;
  diff: boolean;
  signal: AbortSignal;
  /** the engine's plan-first pass: modules must not wait or change anything (one probe at most) */
  planning?: boolean;
  /**
   * The facts were gathered in this run and no task has changed this host since: a module may
   * plan from them instead of probing (service: systemctl's state is in the facts).
   */
  factsCurrent?: boolean;
}

/** What a module found: nothing to do (and why), or a change with the way to make it. */
export type Plan =
  | { change: false; why: string }
  | {
      change: true;
      why: string;
      /** unified diff for file content changes (shown with --diff) */
      diff?: string;
      apply: () => Promise<void>;
    };

export interface Module<P> {
  readonly name: string;
  /** one short line: `write /etc/haproxy/haproxy.cfg`, `install keepalived, haproxy` */
  describe(params: P): string;
  plan(ctx: HostContext, params: P): Promise<Plan>;
}

// TaskFailed lives in errors.ts; modules still import it from here
export { TaskFailed } from '../errors.js';

export interface Task<P = unknown> {
  /** human title; defaults to module.describe(params) */
  name?: string;
  module: Module<P>;
  params: P | ((ctx: HostContext) => P);
  /** handler names to notify when this task changed something */
  notify?: string[];
  when?: (ctx: HostContext) => boolean;
  /** Ansible's `meta: flush_handlers`: run the handlers notified so far, here (module/params unused) */
  meta?: 'flush_handlers';
  /** handler names this task makes moot when it changed (a start loads the new config: no restart needed) */
  clears?: string[];
}

export interface Handler<P = unknown> extends Task<P> {
  /** handlers are addressed by name */
  name: string;
}

/** number, "20%", or a list such as [1, "20%"] (the last entry repeats) */
export type SerialSpec = number | string | Array<number | string>;

export interface Play {
  name: string;
  /** inventory host names, in order */
  hosts: string[];
  tasks: Task<any>[];
  handlers?: Handler<any>[];
  serial?: SerialSpec;
  /** stop when more than this percent of the play's hosts failed (default 0: any failure stops) */
  maxFailPercentage?: number;
  /** run handlers at the end of each batch (default true). false: leave them queued for a later play */
  flushHandlers?: boolean;
  /** called after each batch (not in check mode); throwing stops the play with that error */
  afterBatch?: (hosts: string[], index: number) => Promise<void>;
  /**
   * plan first (default true): every host's tasks are planned in parallel before any batch runs;
   * hosts with nothing to change report ok without waiting for a batch slot.
   */
  planFirst?: boolean;
  /**
   * hosts of this play found unreachable before it started (kha play's lock phase): reported as
   * unreachable in its result and counted against its failure budget, as if it had found them
   */
  lostBefore?: string[];
}

export interface TaskResult {
  host: string;
  task: string;
  status: TaskStatus;
  /** why nothing was needed, or what was done */
  why?: string;
  diff?: string;
  error?: string;
  ms: number;
}

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
}

export interface PlayResult {
  play: string;
  /** hosts that finished every task of the play */
  done: string[];
  failed: string[];
  unreachable: string[];
  /** hosts in batches that never ran because the play stopped */
  untouched: string[];
  stopped: boolean;
  stopReason?: string;
}
