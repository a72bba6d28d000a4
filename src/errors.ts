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
  /** interrupted (SIGINT) */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface KhaErrorOptions {
  code: string;
  exit?: ExitCodeValue;
  suggestions?: string[];
  cause?: unknown;
  /** true for errors that must never be retried (host key mismatch, auth failure) */
  fatal?: boolean;
  host?: string;
}

export class KhaError extends Error {
  readonly code: string;
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
