// One changing run at a time: a lock file on every host, /run/kha.lock (tmpfs, so a reboot clears
// it), holding who took it: { holder: "<user>@<local hostname>", pid, started, command }.
//
// Taking it is atomic per host: the content is written to a private temp file beside the lock,
// then hard-linked to the lock path; link(2) fails when the lock exists, so a lock is never seen
// half-written (a plain `set -C; cat >` would show an empty file for a moment). The content goes
// on stdin, never on a command line. A host already locked refuses the whole run: the locks just
// taken are released and the error names the host, the holder, its pid, start time and age.
// --break-lock removes existing locks first (and says whose). Check mode takes no lock (it
// changes nothing); it only warns about the locks it finds.
import os from 'node:os';
import { posix } from 'node:path';
import type { RunContext } from '../engine/context.js';
import type { Phase } from '../engine/phases.js';
import { ExitCode, KhaError, TransportError, describeError } from '../errors.js';
import { quote } from '../transport/quote.js';
import type { ExecResult } from '../transport/types.js';
import { settled, type Settled } from '../engine/plan-tasks.js';

export const LOCK_PATH = '/run/kha.lock';
/** a lock older than this is reported as stale (still refused without --break-lock) */
export const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

export interface LockInfo {
  holder: string;
  pid: number;
  started: string;
  command: string;
}

export interface LockRequest {
  /** the kha verb taking the lock, e.g. "up" */
  command: string;
  /** remove existing locks first (the operator says their runs are over) */
  breakLock: boolean;
  /**
   * When given, a host that cannot be reached (a TransportError: connect, host key, login, sudo)
   * is handed to it and left out of the lock, instead of refusing the run (kha play: such a host
   * is never changed, and its plays count it as unreachable).
   */
  onUnreachable?: (host: string, err: unknown) => void;
}

/** Where the lock lives and who we are; tests replace them. */
export interface LockEnv {
  path?: string;
  now?: () => number;
  user?: string;
  hostname?: string;
  pid?: number;
  /** does this local pid still run? default: process.kill(pid, 0) does not throw ESRCH */
  isAlive?: (pid: number) => boolean;
}

const TAKEN = 'KHA-LOCK-TAKEN';
const HELD = 'KHA-LOCK-HELD';
const RELEASED = 'KHA-LOCK-RELEASED';
const OTHER = 'KHA-LOCK-OTHER';
const GONE = 'KHA-LOCK-GONE';

// ---- the scripts (every value quoted; the lock content only ever on stdin or quoted) -------

/**
 * Create the lock if absent (prints TAKEN); else print HELD and the current lock. The content comes
 * on stdin, or quoted in the script (`inline`) when the script rides in a batch, which has no stdin.
 */
export function acquireScript(path = LOCK_PATH, inline?: string): string {
  const p = quote(path);
  const tmpl = quote(posix.join(posix.dirname(path), `.${posix.basename(path)}.XXXXXX`));
  const write = inline === undefined ? 'cat > "$t"' : `printf '%s' ${quote(inline)} > "$t"`;
  return [
    `t=$(mktemp ${tmpl}) || exit 1`,
    `if ! { ${write} && chmod 0644 "$t"; }; then rm -f -- "$t"; exit 1; fi`,
    `if ln -- "$t" ${p} 2>/dev/null; then rm -f -- "$t"; echo ${TAKEN}; exit 0; fi`,
    `rm -f -- "$t"`,
    `if [ -e ${p} ]; then echo ${HELD}; cat -- ${p}; exit 0; fi`,
    `echo ${quote(`cannot create ${path}`)} >&2; exit 1`,
  ].join('\n');
}

/** Print HELD and the lock, then remove it (--break-lock); print nothing when there is none. */
export function breakScript(path = LOCK_PATH): string {
  const p = quote(path);
  return `if [ -e ${p} ]; then echo ${HELD}; cat -- ${p}; rm -f -- ${p} || exit 1; fi`;
}

/** Print HELD and the lock, or nothing (check mode). */
export function readScript(path = LOCK_PATH): string {
  const p = quote(path);
  return `if [ -e ${p} ]; then echo ${HELD}; cat -- ${p}; fi`;
}

/** Remove the lock only when it is exactly ours (RELEASED); OTHER when it is not, GONE when absent. */
export function releaseScript(content: string, path = LOCK_PATH): string {
  const p = quote(path);
  // $(...) drops trailing newlines: compare without them
  return `c=$(cat -- ${p} 2>/dev/null) || { echo ${GONE}; exit 0; }\nif [ "$c" = ${quote(content.replace(/\n+$/, ''))} ]; then rm -f -- ${p} && echo ${RELEASED}; else echo ${OTHER}; fi`;
}

// ---- describing a lock ---------------------------------------------------------------------

/** Parse lock content; undefined when it is not a lock kha wrote. */
export function parseLock(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo> | null;
    if (!v || typeof v !== 'object') return undefined;
    if (typeof v.holder !== 'string' || typeof v.pid !== 'number' || typeof v.started !== 'string' || typeof v.command !== 'string') return undefined;
    return { holder: v.holder, pid: v.pid, started: v.started, command: v.command };
  } catch {
    return undefined;
  }
}

/** `3 h 5 min`, `12 min`, `40 s` */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'an unknown time';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} min` : ''}`;
  return `${Math.floor(h / 24)} days`;
}

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function localUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env['USER'] ?? 'unknown';
  }
}

export interface FoundLock {
  host: string;
  /** the raw content (for a lock kha cannot parse) */
  raw: string;
  info?: LockInfo;
  ageMs?: number;
  stale: boolean;
  /** held by a process of this machine that no longer runs */
  dead: boolean;
}

function inspect(host: string, raw: string, env: Required<LockEnv>): FoundLock {
  const info = parseLock(raw.trim());
  if (!info) return { host, raw, stale: false, dead: false };
  const started = Date.parse(info.started);
  const ageMs = Number.isNaN(started) ? undefined : env.now() - started;
  const at = info.holder.lastIndexOf('@');
  const sameMachine = at >= 0 && info.holder.slice(at + 1) === env.hostname;
  const dead = sameMachine && info.pid !== env.pid && info.pid > 0 && !env.isAlive(info.pid);
  const old = ageMs !== undefined && ageMs > STALE_AFTER_MS;
  return { host, raw, info, ...(ageMs !== undefined ? { ageMs } : {}), stale: dead || old, dead };
}

/** `alice@ops1 (pid 4242, kha up, started 2026-...Z, 12 min ago)`, or what is wrong with the file */
export function holderText(l: FoundLock): string {
  if (!l.info) return `an unknown holder (the file is ${l.raw.trim() ? `not kha's: ${JSON.stringify(l.raw.trim().slice(0, 60))}` : 'empty'})`;
  const i = l.info;
  return `${i.holder} (pid ${i.pid}, kha ${i.command}, started ${i.started}, ${l.ageMs !== undefined ? `${formatAge(l.ageMs)} ago` : 'at an unreadable time'})`;
}

/** `m2 is locked by alice@ops1 (...)`, or `m2 has a stale lock held by a process that no longer runs: ...` */
export function describeLock(l: FoundLock): string {
  if (l.dead) return `${l.host} has a stale lock held by a process that no longer runs: ${holderText(l)}`;
  if (l.stale) return `${l.host} has a stale lock, older than ${formatAge(STALE_AFTER_MS)}: ${holderText(l)}`;
  return `${l.host} is locked by ${holderText(l)}`;
}

function splitHeld(stdout: string): { held: boolean; raw: string } {
  const at = stdout.indexOf(`${HELD}\n`);
  if (at < 0) return { held: false, raw: '' };
  return { held: true, raw: stdout.slice(at + HELD.length + 1) };
}

// ---- acquire / release ---------------------------------------------------------------------

function fullEnv(envIn: LockEnv): Required<LockEnv> {
  return {
    path: envIn.path ?? LOCK_PATH,
    now: envIn.now ?? Date.now,
    user: envIn.user ?? localUser(),
    hostname: envIn.hostname ?? os.hostname(),
    pid: envIn.pid ?? process.pid,
    isAlive: envIn.isAlive ?? defaultIsAlive,
  };
}

/** One acquireLocks call: the hosts still in it, and how to run a lock script on each of them. */
class LockSession {
  /** hosts handed to onUnreachable: left out of every later step */
  private readonly lost = new Set<string>();
  hosts: string[];

  constructor(
    readonly run: RunContext,
    hosts: string[],
    readonly info: LockRequest,
    readonly env: Required<LockEnv>,
  ) {
    this.hosts = [...new Set(hosts)];
  }

  get path(): string {
    return this.env.path;
  }

  async exec(host: string, script: string, stdin?: string) {
    const conn = await this.run.connector.get(this.run.host(host));
    return conn.exec({ script }, { become: true, timeoutMs: 30_000, ...(stdin !== undefined ? { stdin } : {}) });
  }

  fail(host: string, what: string, detail: string): KhaError {
    return new KhaError(`${host}: cannot ${what} ${this.path}: ${detail}`, { code: 'E_LOCK', exit: ExitCode.preflight, host });
  }

  /** with onUnreachable: an unreachable host is handed over (true); anything else is the caller's */
  handOver(h: string, err: unknown): boolean {
    if (!this.info.onUnreachable || !(err instanceof TransportError)) return false;
    this.lost.add(h);
    this.info.onUnreachable(h, err);
    return true;
  }

  /** `f` on every host at once; hosts handed over drop out afterwards, other errors are rethrown */
  async each(f: (h: string) => Promise<void>): Promise<void> {
    await Promise.all(
      this.hosts.map(async (h) => {
        try {
          await f(h);
        } catch (err) {
          if (!this.handOver(h, err)) throw err;
        }
      }),
    );
    this.hosts = this.hosts.filter((h) => !this.lost.has(h));
  }
}

/**
 * Lock every host for this run. Returns the release function (removes exactly our lock on every
 * host where we took it; safe to call more than once; never throws, it warns instead). Throws a
 * KhaError (exit 5, E_LOCKED) when a host is already locked, after releasing the locks it took.
 */
export async function acquireLocks(run: RunContext, hosts: string[], info: LockRequest, envIn: LockEnv = {}): Promise<() => Promise<void>> {
  const ls = new LockSession(run, hosts, info, fullEnv(envIn));
  // check mode changes nothing, not even a lock: say what it found and go on
  if (run.check) {
    await warnAboutLocks(ls);
    return async () => {};
  }
  const { mine, content } = lockContent(ls.env, info.command);
  if (info.breakLock) await breakLocks(ls);
  return settleTakes(ls, await takeLocks(ls, content), mine, content);
}

/**
 * The hosts where the lock could not be taken, as one error in the order of the hosts. A host that
 * could not be reached is exit 3 (unreachable) as in every other phase, not a lock problem (5):
 * the lock is only the first thing a run does there. Any other failure makes it exit 5.
 */
function lockFailure(ls: LockSession, errors: KhaError[]): KhaError {
  const order = (e: KhaError) => ls.hosts.indexOf(e.host ?? '');
  errors.sort((a, b) => order(a) - order(b));
  if (errors.length === 1) return errors[0]!;
  const other = errors.find((e) => e.exit !== ExitCode.unreachable);
  const first = other ?? errors[0]!;
  return new KhaError(errors.map((e) => e.message).join('; '), {
    code: first.code,
    exit: first.exit,
    host: first.host!,
    fatal: errors.some((e) => e.fatal),
  });
}

/** Check mode: warn about the lock readScript found on `h` (its stdout), if any. */
function warnHeld(ls: LockSession, h: string, stdout: string): void {
  const { held, raw } = splitHeld(stdout);
  if (held) ls.run.events.warn(`${describeLock(inspect(h, raw, ls.env))}; check mode takes no lock, the plan may change under it`, h);
}

async function warnAboutLocks(ls: LockSession): Promise<void> {
  await ls.each(async (h) => warnHeld(ls, h, (await ls.exec(h, readScript(ls.path))).stdout));
}

/** --break-lock: remove every existing lock first, and say whose it was. */
async function breakLocks(ls: LockSession): Promise<void> {
  await ls.each(async (h) => {
    const r = await ls.exec(h, breakScript(ls.path));
    if (r.code !== 0) throw ls.fail(h, 'remove', (r.stderr.trim().split('\n')[0] ?? '') || `exit ${r.code ?? r.signal}`);
    const { held, raw } = splitHeld(r.stdout);
    if (held) ls.run.events.warn(`--break-lock: removed ${ls.path} on ${h}, held by ${holderText(inspect(h, raw, ls.env))}`, h);
  });
}

/** Where the lock was taken (or may have been), who holds the others, what failed. */
interface Takes {
  taken: string[];
  conflicts: FoundLock[];
  errors: KhaError[];
}

/** One host's answer to acquireScript (or the error that stopped it), sorted into `t`. */
function classifyTake(ls: LockSession, h: string, got: Settled<ExecResult>, t: Takes): void {
  if ('err' in got) {
    const { err } = got;
    if (ls.handOver(h, err)) return;
    const why = describeError(err).replace(`${h}: `, '');
    const lost = err instanceof TransportError;
    t.errors.push(
      new KhaError(`${h}: cannot take the lock ${ls.path}: ${why}`, {
        code: lost ? 'E_UNREACHABLE' : 'E_LOCK',
        exit: lost ? ExitCode.unreachable : ExitCode.preflight,
        host: h,
        fatal: err instanceof KhaError && err.fatal,
      }),
    );
    return;
  }
  const { r } = got;
  if (r.code === 0 && r.stdout.split('\n').includes(TAKEN)) return void t.taken.push(h);
  const { held, raw } = splitHeld(r.stdout);
  if (r.code === 0 && held) return void t.conflicts.push(inspect(h, raw, ls.env));
  // killed or timed out: the link may have happened; release checks the content, so try it there too
  if (r.code === null) t.taken.push(h);
  t.errors.push(ls.fail(h, 'create', (r.stderr.trim().split('\n')[0] ?? '') || (r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`)));
}

/** Try to take the lock on every host at once. */
async function takeLocks(ls: LockSession, content: string): Promise<Takes> {
  const t: Takes = { taken: [], conflicts: [], errors: [] };
  await Promise.all(
    ls.hosts.map(async (h) => {
      classifyTake(ls, h, await settled(ls.exec(h, acquireScript(ls.path), content)), t);
    }),
  );
  return t;
}

/** The release, or (after releasing what was taken) the refusal or failure of `t`. */
async function settleTakes(ls: LockSession, t: Takes, mine: LockInfo, content: string): Promise<() => Promise<void>> {
  const release = releaser(ls, t.taken, content);
  if (t.conflicts.length === 0 && t.errors.length === 0) {
    ls.run.events.debug(`locked ${ls.path} on ${t.taken.join(', ')} as ${mine.holder} pid ${mine.pid}`);
    return release;
  }
  await release();
  if (t.conflicts.length === 0) throw lockFailure(ls, t.errors);
  throw refusal(ls, t.conflicts);
}

/** This run's lock content. */
function lockContent(env: Required<LockEnv>, command: string): { mine: LockInfo; content: string } {
  const mine: LockInfo = { holder: `${env.user}@${env.hostname}`, pid: env.pid, started: new Date(env.now()).toISOString(), command };
  return { mine, content: `${JSON.stringify(mine)}\n` };
}

/**
 * The lock as one more command in a batch the verb sends anyway (kha up's Plan: the lock and every
 * probe in one round trip per host). `probe` takes the lock (check mode: reads it); `settle` gets
 * what it printed on each host and returns the release function, or throws as acquireLocks does
 * (E_LOCKED naming the holders, after releasing what it took). --break-lock removes the old locks
 * in a round trip of its own first (`prepare`).
 */
export function ridingLock(
  run: RunContext,
  hosts: string[],
  info: LockRequest,
  envIn: LockEnv = {},
): {
  prepare: () => Promise<void>;
  probe: { cmd: { script: string }; become: true; timeoutMs: number };
  /** what the probe printed per host; a host missing from it counts as a lock that was not sent */
  settle: (printed: ReadonlyMap<string, Settled<ExecResult>>) => Promise<() => Promise<void>>;
} {
  const ls = new LockSession(run, hosts, info, fullEnv(envIn));
  const { mine, content } = lockContent(ls.env, info.command);
  return {
    prepare: async () => {
      if (info.breakLock && !run.check) await breakLocks(ls);
    },
    probe: { cmd: { script: run.check ? readScript(ls.path) : acquireScript(ls.path, content) }, become: true, timeoutMs: 30_000 },
    settle: async (printed) => {
      if (run.check) {
        for (const h of ls.hosts) {
          const got = printed.get(h);
          if (got && 'r' in got) warnHeld(ls, h, got.r.stdout);
        }
        return async () => {};
      }
      const t: Takes = { taken: [], conflicts: [], errors: [] };
      for (const h of ls.hosts) classifyTake(ls, h, printed.get(h) ?? { err: new Error('the lock was not sent') }, t);
      return settleTakes(ls, t, mine, content);
    },
  };
}

/** The release function: removes exactly our lock where we took it; once; warns, never throws. */
function releaser(ls: LockSession, taken: string[], content: string): () => Promise<void> {
  const { run, path } = ls;
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await Promise.all(
      taken.map(async (h) => {
        if (run.unreachable.has(h)) {
          // a host lost during the run: reconnecting (with retries) would only delay the report
          run.events.warn(
            `could not remove our lock ${path} on ${h}: the host became unreachable during the run; ${path} is gone after a reboot, otherwise the next run needs --break-lock`,
            h,
          );
          return;
        }
        try {
          const r = await ls.exec(h, releaseScript(content, path));
          if (r.stdout.includes(RELEASED) || r.stdout.includes(GONE)) return;
          if (r.stdout.includes(OTHER)) {
            run.events.warn(`the lock on ${h} is no longer ours (broken by another run?); left it in place`, h);
            return;
          }
          run.events.warn(
            `could not remove our lock ${path} on ${h} (${(r.stderr.trim().split('\n')[0] ?? '') || `exit ${r.code ?? r.signal}`}); the next run will need --break-lock`,
            h,
          );
        } catch (err) {
          run.events.warn(`could not remove our lock ${path} on ${h}: ${describeError(err)}; the next run will need --break-lock`, h);
        }
      }),
    );
  };
}

/** Hosts locked by another run: one error naming each, in the order of the hosts. */
function refusal(ls: LockSession, conflicts: FoundLock[]): KhaError {
  const order = (h: string) => ls.hosts.indexOf(h);
  conflicts.sort((a, b) => order(a.host) - order(b.host));
  const what = conflicts.map(describeLock).join('; ');
  return new KhaError(`${what}: nothing was changed; if that run is over, rerun with --break-lock`, {
    code: 'E_LOCKED',
    exit: ExitCode.preflight,
    host: conflicts[0]!.host,
    suggestions: [`kha ${ls.info.command} --break-lock ...   (only once that run is over; it removes the lock on ${conflicts.map((c) => c.host).join(', ')})`],
  });
}

/** What a lock phase locks, read from the verb's state when the phase runs. */
export interface LockSpec {
  run: RunContext;
  hosts: string[];
  request: LockRequest;
  env?: LockEnv;
}

/**
 * The one lock phase of every verb that changes hosts (or stops services on purpose, as kha drill
 * does): takes /run/kha.lock on `spec(st).hosts` and gives the locks back in its clean-up, however
 * the verb ends (engine/phases.ts runs the clean-ups of the phases that started).
 */
export function lockPhase<S>(title: string, spec: (st: S) => LockSpec, after?: (st: S) => void): Phase<S> {
  let release: (() => Promise<void>) | undefined;
  return {
    title,
    run: async (st) => {
      const { run, hosts, request, env } = spec(st);
      release = await acquireLocks(run, hosts, request, env);
      after?.(st);
    },
    cleanup: async () => {
      await release?.();
      release = undefined;
    },
  };
}
