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

/** Thrown by a module's plan/apply for a failure that is the host's fault, not the transport's. */
export class TaskFailed extends Error {
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'TaskFailed';
  }
}

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
  /**
   * Running it interrupts the host's service (a restart; a haproxy reload does not: its
   * master-worker mode keeps established connections). kha upgrade hands the VIP over before
   * such a change on its holder.
   */
  interrupts?: boolean;
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
  /**
   * Explicit batches, run in this order, instead of `serial` over `hosts` (kha upgrade: the VIP
   * holder last). `hosts` stays the play's hosts: the base of maxFailPercentage.
   */
  batches?: string[][];
  /**
   * called before each batch, after its `batch` event (not in check mode); throwing stops the
   * play before the batch, whose hosts are then untouched
   */
  beforeBatch?: (hosts: string[], index: number) => Promise<void>;
  /** called after each batch (not in check mode); throwing stops the play with that error */
  afterBatch?: (hosts: string[], index: number) => Promise<void>;
  /**
   * The verb's own words for a stop at batch `index`: returns the reason the result carries, and
   * reports it as the verb likes. Default: the engine's wording, and a hook's error is reported as
   * an error message.
   */
  onStop?: (stop: PlayStop, index: number) => string;
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

/** Why a play stopped at a batch. */
export type PlayStop =
  | { kind: 'interrupted' }
  /** every host of the batch failed or became unreachable */
  | { kind: 'batch-failed'; hosts: string[] }
  /** more than maxFailPercentage of the play's hosts failed; `hosts`: this batch's failures */
  | { kind: 'max-fail'; failed: number; of: number; max: number; hosts: string[] }
  | { kind: 'hook'; hook: 'before' | 'after'; error: unknown };

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
