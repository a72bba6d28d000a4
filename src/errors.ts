// One error tree for kha. Every error carries a stable code, an exit code, optional suggestions
// ("Try this:") and a cause chain. Context is added once per layer (`m2: connect: ...`).

export const ExitCode = {
  ok: 0,
  /** cancelled at the confirmation prompt; nothing was changed */
  cancelled: 1,
  /** a task failed on at least one host */
  failed: 2,
  /** at least one host was unreachable (and none failed otherwise) */
  unreachable: 3,
  /** bad input: inventory, flags, arguments. Nothing was changed. */
  usage: 4,
  /** preflight refused to go on. Nothing was changed. */
  preflight: 5,
  /** the cluster is not healthy (status: no holder / split brain) */
  unhealthy: 6,
  /**
   * a wait ran out: kha drain with sessions still open at --timeout, or an apiserver that did not
   * answer its health path in time (kha undrain, kha drain -- CMD); the backend stays drained
   */
  timedOut: 7,
  /** interrupted (SIGINT) */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Every code a KhaError carries (and `--json` prints): a closed list, so a typo is a type error.
 * Codes are stable: scripts match on them (`--json` prints `error.code`; the JSON Schema lists them).
 */
export const ERROR_CODES = [
  // input and preflight (nothing was changed)
  'E_INPUT',
  'E_ROLE_VARS',
  'E_PREFLIGHT',
  'E_NOT_UP',
  'E_NO_DOCKER',
  'E_NO_TESTCONTAINERS',
  'E_CANCELLED',
  'E_INTERRUPTED',
  'E_INVENTORY_CHANGED',
  'E_INVENTORY_OWNER',
  // kha init: the output file exists (and no --force); kha render: --host names no host kha writes to
  'E_FILE_EXISTS',
  'E_UNKNOWN_HOST',
  // transport (src/transport)
  'E_TRANSPORT',
  'E_CONNECT',
  'E_AUTH',
  'E_KEY',
  'E_HOSTKEY_CHANGED',
  'E_HOSTKEY_UNKNOWN',
  'E_BECOME',
  'E_CHANNEL',
  'E_CLOSED',
  'E_CONNECTION_LOST',
  'E_UPLOAD',
  'E_UNREACHABLE',
  'E_FORWARD',
  // locks
  'E_LOCK',
  'E_LOCKED',
  // plays and rollouts (E_TASK_FAILED: the run ended, but a task failed on a host within --max-fail)
  'E_TASK_FAILED',
  'E_PLAY_STOPPED',
  'E_BATCH',
  'E_BATCH_CHECK',
  'E_HANDOVER',
  'E_NODE_PROXY',
  'E_RESET_INCOMPLETE',
  // cluster health (up, members, drill, status)
  'E_UNHEALTHY',
  'E_NO_HOLDER',
  'E_SPLIT_BRAIN',
  'E_VIP_MOVED',
  'E_FRONTEND',
  'E_BACKENDS',
  'E_DRILL',
  'E_NO_FAILOVER',
  'E_NOT_SETTLED',
  // kha drain / undrain: the runtime API refused, sessions left at --timeout, the apiserver not
  // ready in time, the command run between drain and undrain failed
  'E_DRAIN',
  'E_DRAIN_TIMEOUT',
  'E_NOT_READY',
  'E_COMMAND_FAILED',
  // anything else that reached the top (the CLI)
  'E_INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface KhaErrorOptions {
  code: ErrorCode;
  exit?: ExitCodeValue;
  suggestions?: string[];
  cause?: unknown;
  /** true for errors that must never be retried (host key mismatch, auth failure) */
  fatal?: boolean;
  host?: string;
}

export class KhaError extends Error {
  readonly code: ErrorCode;
  readonly exit: ExitCodeValue;
  readonly suggestions: string[];
  readonly fatal: boolean;
  readonly host?: string;

  constructor(message: string, opts: KhaErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KhaError';
    this.code = opts.code;
    this.exit = opts.exit ?? ExitCode.failed;
    this.suggestions = opts.suggestions ?? [];
    this.fatal = opts.fatal ?? false;
    if (opts.host !== undefined) this.host = opts.host;
  }
}

/** Bad input (inventory, flags). Exit 4; nothing was touched. */
export class InputError extends KhaError {
  constructor(message: string, opts: Partial<KhaErrorOptions> = {}) {
    super(message, { code: 'E_INPUT', exit: ExitCode.usage, ...opts });
    this.name = 'InputError';
  }
}

/** Transport failures: connection refused, timeout, host key, auth. */
export class TransportError extends KhaError {
  constructor(message: string, opts: Partial<KhaErrorOptions> & { host: string }) {
    super(message, { code: 'E_TRANSPORT', exit: ExitCode.unreachable, ...opts });
    this.name = 'TransportError';
  }
}

export class PreflightError extends KhaError {
  constructor(message: string, opts: Partial<KhaErrorOptions> = {}) {
    super(message, { code: 'E_PREFLIGHT', exit: ExitCode.preflight, ...opts });
    this.name = 'PreflightError';
  }
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

/** Walk the cause chain into one line: `outer: inner: innermost`. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  const seen = new Set<unknown>();
  while (cur && !seen.has(cur)) {
    seen.add(cur);
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    cur = cur instanceof Error ? (cur as Error & { cause?: unknown }).cause : undefined;
  }
  return parts.join(': ');
}
