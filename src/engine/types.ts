// The engine's contracts. A module probes, then decides (pyinfra's split): probe() names the
// read-only commands it needs, decide() is a pure function from their output to a decision, and
// only the decision's apply() changes a host. The engine sends every task's probes of a host in one
// round trip (engine/plan-tasks.ts) and decides "changed" (a change was needed and its apply()
// succeeded). Check mode never calls apply().
import type { InventoryHost } from '../inventory/types.js';
import type { Command, Connection, ExecResult } from '../transport/types.js';
import type { Facts } from '../facts/types.js';

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped';

/** What probe() and decide() may look at: the host, its facts and the run's mode. Data only, no connection. */
export interface ModuleContext {
  host: InventoryHost;
  facts: Facts;
  check: boolean;
  diff: boolean;
  /** the engine's plan-first pass: decide must not ask for waiting (wait_for schedules the host instead) */
  planning?: boolean;
  /**
   * The facts were gathered in this run and no task has changed this host since: a module may
   * decide from them instead of probing (service: systemctl's state is in the facts).
   */
  factsCurrent?: boolean;
}

export interface HostContext extends ModuleContext {
  conn: Connection;
  signal: AbortSignal;
}

/** decide()'s context: the module context, and how long the probes took (wait_for reports it). */
export interface DecideContext extends ModuleContext {
  probeMs: number;
}

/** A read-only command a module decides from. */
export interface Probe {
  cmd: Command;
  /** default: the host's become setting */
  become?: boolean;
  timeoutMs?: number;
  /**
   * The same read as `cmd`, in a form the engine may merge with the other probes of the group on
   * the host (one `stat` for every path instead of one per task). The module still decides from
   * exactly what `cmd` would have printed: the group rebuilds it, or the probe runs alone.
   */
  group?: { by: ProbeGroup; arg: string };
}

/**
 * Probes of one kind that the engine sends as one command per host (engine/plan-tasks.ts
 * runProbes). `script` reads every arg at once; `split` gives each arg the result its probe's own
 * `cmd` would have given, byte for byte, or undefined where it cannot be sure (a symlink, an
 * unreadable file, a failed read): that probe then runs alone.
 */
export interface ProbeGroup {
  name: string;
  script(args: readonly string[]): string;
  split(r: ExecResult, args: readonly string[]): Array<ExecResult | undefined>;
}

/** What the probes of one task on one host returned in a plan (the planner records it: PlannedTask.probed). */
export interface Probed {
  probes: readonly Probe[];
  results: readonly ExecResult[];
  /** how long they took (decide's probeMs) */
  ms: number;
  /** the host's RunContext.generation when they ran: the results hold while it stays the same */
  generation: number;
}

/** host -> task -> what an earlier plan's probes of that very task object returned (Play.probed). */
export type ProbedTasks = ReadonlyMap<string, ReadonlyMap<Task<any>, Probed>>;

/** A content change, as data: the engine renders it as a unified diff (shown with --diff). null: no file (created, removed). */
export type DiffSpec = { path: string; before: string | null; after: string | null } | { text: string };

/** A module's decision: nothing to do (and why), or a change with the way to make it. */
export type Decision =
  | {
      change: false;
      why: string;
      /**
       * Work that changes nothing but must be done before the task is ok (wait_for: poll until the
       * condition holds). The engine awaits it; its answer replaces `why`. decide() never returns
       * one in check mode or in the planning pass.
       */
      wait?: (ctx: HostContext) => Promise<string>;
    }
  | {
      change: true;
      why: string;
      diff?: DiffSpec;
      /** the only code that changes the host; it may upload, validate, rename and restart */
      apply: (ctx: HostContext) => Promise<void>;
    };

/** What the engine made of a decision on one host: the same, bound to that host (apply takes no argument). */
export type Plan =
  | { change: false; why: string }
  | {
      change: true;
      why: string;
      /** unified diff for file content changes (shown with --diff) */
      diff?: string;
      apply: () => Promise<void>;
    };

/** A module as written: engine/plan-tasks.ts defineModule() turns it into a Module. */
export interface ModuleSpec<P> {
  readonly name: string;
  /** one short line: `write /etc/haproxy/haproxy.cfg`, `install keepalived, haproxy` */
  describe(params: P): string;
  /**
   * Check the params (throw TaskFailed) and name the read-only commands to decide from, or null:
   * nothing to probe (the decision rests on the params and facts alone). Pure.
   */
  probe(params: P, ctx: ModuleContext): Probe | readonly Probe[] | null;
  /** The decision, from each probe's result in probe() order ([] without probes). Pure: tested as tables. */
  decide(results: readonly ExecResult[], params: P, ctx: DecideContext): Decision;
  /**
   * The unit whose service applying this task interrupts (a restart or a stop: its connections and,
   * for keepalived, the VIP go away for a moment), or null: a reload, a file, a package. The
   * rollout verbs ask it of the changed tasks and the handlers they notify (actions/rollout.ts
   * interruptsService). Pure. Absent: null.
   */
  interrupts?(params: P): string | null;
}

export interface Module<P> extends ModuleSpec<P> {
  /**
   * Probe and decide this one task on its own (one round trip). The engine plans a host's tasks
   * together instead (planTasks: every probe in one round trip).
   */
  plan(ctx: HostContext, params: P): Promise<Plan>;
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
  /**
   * What an earlier plan's probes of these very task objects returned (kha up's Plan phase,
   * engine/plan-tasks.ts probedOf). A task whose probes are the same as then, on a host whose
   * generation has not moved since (no apply, no batch hook: RunContext.generation), is decided
   * from those results instead of being probed again; any other task probes as usual. Only for a
   * caller that knows nothing but this run's plays changes these hosts in between (its lock is
   * held) and whose probes read state that only a writer changes (files, packages; not a
   * service's state, which changes by itself).
   */
  probed?: ProbedTasks;
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
