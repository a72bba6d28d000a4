// kha drain / kha undrain: take one master's apiserver out of every haproxy for maintenance
// (`kubeadm upgrade` restarts one apiserver at a time) and put it back once it answers, through
// haproxy's runtime API (facts/haproxy.ts reads it, modules/haproxy-server.ts changes it). The order lives here, and only here:
//   drain:    lock -> find the server on every haproxy -> DRAIN -> wait until its sessions end
//             with `-- CMD`: -> run CMD on the master -> wait for its health path -> READY -> UP
//   undrain:  lock -> find the server on every haproxy -> wait for its health path -> READY -> UP
// Every haproxy kha runs that lists the server is changed: the load balancers, and the nodes'
// local proxies when they are haproxy (nginx has no runtime API: a warning line says so). A wait
// that runs out, or a command that fails, leaves the server drained: the operator decides.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../engine/context.js';
import { runPhases, type Phase } from '../engine/phases.js';
import { runPlay } from '../engine/play.js';
import type { HostContext } from '../engine/types.js';
import { ExitCode, InputError, KhaError, PreflightError } from '../errors.js';
import { runtimeAnswers, runtimeScript, serverView, type ServerView } from '../facts/haproxy.js';
import type { HaSettings } from '../inventory/settings.js';
import { suggest } from '../inventory/suggest.js';
import { haproxyServerModule } from '../modules/haproxy-server.js';
import { token } from '../roles/files.js';
import { HAPROXY_CFG, STATS_SOCKET } from '../roles/ha.js';
import { HAPROXY_BACKEND } from '../roles/haproxy.js';
import { NODE_PROXY_BACKEND } from '../roles/node-proxy.js';
import { saveStateScript } from '../roles/server-state.js';
import { quoteArgv } from '../transport/quote.js';
import { lockPhase } from './lock.js';
import { readyAnswer, readyProbeScript } from './probes.js';
import { hostLine } from './status.js';

/** how often the waits ask again */
const POLL_MS = 500;
/** after READY: how long kha waits for every haproxy's checks to count the server UP (rise 2 x 500 ms, with room) */
const UP_WAIT_MS = 15_000;

export type DrainRole = 'load balancer' | 'node';

export interface DrainOptions {
  /** the master whose apiserver is taken out */
  server: string;
  /** drain: seconds to wait for the server's sessions to end (0: do not wait) */
  timeoutS: number;
  /** drain: at the timeout, close the sessions still open instead of failing */
  shutdownSessions: boolean;
  /** drain -- CMD: run on the server (as root) once drained; undrain follows only if it succeeds */
  command?: readonly string[];
  /** seconds CMD may run */
  commandTimeoutS: number;
  /** seconds to wait for the server's health path to answer 200 before READY */
  readyTimeoutS: number;
  breakLock: boolean;
  /** CMD's output as it comes (the command writes it to stderr) */
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
}

/** One haproxy that lists the server, as kha left it. */
export interface DrainHostResult {
  host: string;
  role: DrainRole;
  /** haproxy's status of the server at the end: DRAIN, UP, DOWN, MAINT, `UP 1/2`, ... */
  status: string;
  drained: boolean;
  /** sessions open to the server there: when kha stopped waiting (drain), at the end (undrain) */
  sessions: number;
  /** drain: ms from DRAIN until no session was left there; null when --timeout came first */
  drainedMs?: number | null;
  /** --shutdown-sessions: the sessions kha closed there at the timeout */
  closed?: number;
}

/** kha drain's and kha undrain's result (--json) */
export interface DrainResult {
  server: string;
  hosts: DrainHostResult[];
  /** the haproxy hosts that were left alone, each with why (not running, does not list it, nginx) */
  skipped: Array<{ host: string; reason: string }>;
  /** the server is drained on every haproxy that lists it, as kha ended */
  drained: boolean;
  /** drain: ms from DRAIN until no haproxy had a session left to it; null when --timeout came first */
  drainMs?: number | null;
  /** drain: the sessions still open when kha stopped waiting, all hosts together */
  sessionsLeft?: number;
  /** drain -- CMD: the command and how it ended */
  cmd?: { argv: string[]; exit: number | null; signal: string | null; ms: number };
  /** the health path: ms until it answered 200 (null: not in time), and the host that asked */
  ready?: { from: string; ms: number | null; last: string };
  /** ms from READY until every haproxy counted the server UP; null when not within 15 s */
  upMs?: number | null;
}

/** How a drain or an undrain ended: the result, and the error when it did not end well. */
export interface DrainOutcome {
  result: DrainResult;
  error?: unknown;
}

interface Target {
  host: string;
  role: DrainRole;
  backend: string;
}

interface DrainState {
  run: RunContext;
  s: HaSettings;
  o: DrainOptions;
  verb: 'drain' | 'undrain';
  targets: Target[];
  /** the targets whose haproxy lists the server */
  listed: Target[];
  result: DrainResult;
}

// ---- before anything is asked -----------------------------------------------------------

/**
 * The server named on the command line must be a master of the inventory: one InputError line
 * (exit 4) otherwise, naming the masters. Pure.
 */
export function checkServer(s: HaSettings, inventoryHosts: readonly string[], name: string, verb: 'drain' | 'undrain'): void {
  const masters = s.masters.join(', ');
  if (s.masters.includes(name)) {
    token('server', name);
    return;
  }
  if (inventoryHosts.includes(name)) {
    throw new InputError(`${name} is not a master, so no haproxy sends to it; kha ${verb} takes a master: ${masters}`, { code: 'E_UNKNOWN_HOST' });
  }
  const near = suggest(name, s.masters, { mode: 'name' });
  throw new InputError(`${name}: no such host in the inventory${near ? ` (did you mean ${near}?)` : ''}; kha ${verb} takes a master: ${masters}`, {
    code: 'E_UNKNOWN_HOST',
  });
}

/** Every haproxy kha runs: the load balancers, and the nodes when their local proxy is haproxy. Pure. */
export function drainTargets(s: HaSettings): Target[] {
  return [
    ...s.lbHosts.map((host) => ({ host, role: 'load balancer' as const, backend: HAPROXY_BACKEND })),
    ...(s.nodeLocalProxy && s.nodeProxy === 'haproxy' ? s.nodes.map((host) => ({ host, role: 'node' as const, backend: NODE_PROXY_BACKEND })) : []),
  ];
}

/** The nodes whose local proxy is nginx: no runtime API, so the server is not drained there. Pure. */
export function nginxNodes(s: HaSettings): string[] {
  return s.nodeLocalProxy && s.nodeProxy === 'nginx' ? s.nodes : [];
}

/** The one line about nginx nodes. Pure. */
export function nginxLine(nodes: readonly string[], server: string): string {
  return `${nodes.join(', ')}: the node-local nginx has no runtime API, so ${server} is not drained there; their kubelets keep connecting to it (nginx tries the next master when a connection fails)`;
}

// ---- asking and changing one haproxy ------------------------------------------------------

async function exec(st: DrainState, host: string, script: string) {
  const conn = await st.run.connector.get(st.run.host(host));
  return conn.exec({ script }, { become: true, timeoutMs: 15_000 });
}

/** The server as the target's haproxy sees it; 'not running' when its socket does not answer. */
async function look(st: DrainState, t: Target): Promise<ServerView | null | 'not running'> {
  const r = await exec(st, t.host, runtimeScript(STATS_SOCKET, ['show stat', `show servers state ${t.backend}`]));
  if (r.code !== 0) return 'not running';
  const [stat, states] = runtimeAnswers(r.stdout, 2);
  return serverView(stat!, states!, t.backend, st.o.server);
}

/** look() on each target at once, each view recorded in the result. */
async function lookAll(st: DrainState, targets: Target[]): Promise<void> {
  await Promise.all(
    targets.map(async (t) => {
      const v = await look(st, t);
      if (v !== null && v !== 'not running') record(st, t, v);
    }),
  );
}

/**
 * The change itself, as one play of the haproxy_server module on `targets` (the engine probes,
 * decides and reports what changed): DRAIN or READY, with shutdownSessions the open sessions
 * closed; after a change the drained servers are saved for a reload. Every host is tried; the
 * hosts where it failed are named together (exit 2, or 3 when they could not be reached).
 */
async function setState(st: DrainState, targets: Target[], state: 'drain' | 'ready', shutdownSessions = false): Promise<void> {
  const { run, o } = st;
  const backend = new Map(targets.map((t) => [t.host, t.backend]));
  const save = { script: saveStateScript({ statsSocket: STATS_SOCKET, config: HAPROXY_CFG }) };
  const r = await runPlay(run, {
    name: `${state} ${o.server}`,
    hosts: targets.map((t) => t.host),
    maxFailPercentage: 100,
    tasks: [
      {
        module: haproxyServerModule,
        params: (hc: HostContext) => ({
          socket: STATS_SOCKET,
          backend: backend.get(hc.host.name) ?? HAPROXY_BACKEND,
          server: o.server,
          state,
          shutdownSessions,
          save,
        }),
      },
    ],
  });
  await lookAll(st, targets);
  st.result.drained = st.result.hosts.length > 0 && st.result.hosts.every((h) => h.drained);
  const bad = [...r.failed, ...r.unreachable];
  if (bad.length === 0) return;
  const why = bad.map((h) => hostLine(h, run.failed.get(h) ?? run.unreachable.get(h) ?? 'failed'));
  const done = targets.filter((t) => !bad.includes(t.host)).map((t) => t.host);
  const what = state === 'ready' ? 'setting it READY' : shutdownSessions ? 'closing its sessions' : 'draining it';
  throw new KhaError(`${o.server}: ${what} failed on ${why.join('; ')}${done.length ? ` (done on ${done.join(', ')})` : ''}`, {
    code: 'E_DRAIN',
    exit: r.failed.length ? ExitCode.failed : ExitCode.unreachable,
    host: bad[0]!,
  });
}

function hostResult(st: DrainState, t: Target): DrainHostResult {
  let h = st.result.hosts.find((x) => x.host === t.host);
  if (!h) st.result.hosts.push((h = { host: t.host, role: t.role, status: '', drained: false, sessions: 0 }));
  return h;
}

function record(st: DrainState, t: Target, v: ServerView): void {
  Object.assign(hostResult(st, t), { status: v.status, drained: v.drained, sessions: v.sessions });
}

// ---- the phases ---------------------------------------------------------------------------

const lock = lockPhase<DrainState>('Lock the load balancers and haproxy nodes (one kha run at a time)', (st) => ({
  run: st.run,
  hosts: [...st.targets.map((t) => t.host), ...(st.o.command ? [st.o.server] : [])],
  request: { command: st.verb, breakLock: st.o.breakLock },
}));

/** Who lists the server, who does not, whose haproxy does not run; none listing it refuses (exit 5). */
async function findServer(st: DrainState): Promise<void> {
  const { run, o } = st;
  const nginx = nginxNodes(st.s);
  if (nginx.length) {
    run.events.warn(nginxLine(nginx, o.server));
    for (const n of nginx) st.result.skipped.push({ host: n, reason: 'nginx: no runtime API' });
  }
  const seen = await Promise.all(st.targets.map(async (t) => ({ t, v: await look(st, t) })));
  for (const { t, v } of seen) {
    if (v === 'not running') {
      run.events.warn(`haproxy does not answer on its stats socket: ${o.server} cannot be ${st.verb === 'drain' ? 'drained' : 'put back'} there`, t.host);
      st.result.skipped.push({ host: t.host, reason: 'haproxy not running' });
    } else if (v === null) {
      run.events.info(`haproxy does not list ${o.server}: nothing to change there`, t.host);
      st.result.skipped.push({ host: t.host, reason: `haproxy does not list ${o.server}` });
    } else {
      st.listed.push(t);
      record(st, t, v);
      run.events.info(`${o.server}: ${v.status}${v.drained ? ' (drained)' : ''}, ${v.sessions} session${v.sessions === 1 ? '' : 's'}`, t.host);
    }
  }
  if (st.listed.length === 0) {
    throw new PreflightError(`no haproxy lists ${o.server} (${st.result.skipped.map((x) => `${x.host}: ${x.reason}`).join('; ')}); nothing was changed`, {
      suggestions: ['kha status -i <inventory> shows the load balancers and their backends; kha up configures them'],
    });
  }
}

/**
 * Asks every listed haproxy still in `pending` at once, every POLL_MS, records what each sees, and
 * drops a host from `pending` once `done(view)` holds there; until none is pending, `untilMs`
 * passes, or Ctrl-C. Returns the hosts still pending.
 */
async function pollListed(st: DrainState, done: (v: ServerView) => boolean, untilMs: number, onDone?: (t: Target) => void): Promise<Set<string>> {
  const pending = new Set(st.listed.map((t) => t.host));
  for (;;) {
    await Promise.all(
      st.listed
        .filter((t) => pending.has(t.host))
        .map(async (t) => {
          const v = await look(st, t);
          if (v === null || v === 'not running') return;
          record(st, t, v);
          if (done(v)) {
            pending.delete(t.host);
            onDone?.(t);
          }
        }),
    );
    if (pending.size === 0 || Date.now() >= untilMs || st.run.opts.signal.aborted) return pending;
    await sleep(POLL_MS);
  }
}

/** Until no haproxy has a session open to the server, or --timeout; then close them (--shutdown-sessions) or fail (exit 7). */
async function waitSessions(st: DrainState): Promise<void> {
  const { run, o } = st;
  const t0 = Date.now();
  for (const t of st.listed) hostResult(st, t).drainedMs = null;
  const open = await pollListed(
    st,
    (v) => v.sessions === 0,
    t0 + o.timeoutS * 1000,
    (t) => {
      hostResult(st, t).drainedMs = Date.now() - t0;
      run.events.info(`no session left to ${o.server} (${secs(Date.now() - t0)})`, t.host);
    },
  );
  st.result.sessionsLeft = st.result.hosts.reduce((a, h) => a + h.sessions, 0);
  interrupted(run);
  st.result.drainMs = open.size === 0 ? Date.now() - t0 : null;
  if (open.size === 0) {
    run.events.info(`${o.server} is drained: no haproxy has a session open to it (${secs(st.result.drainMs!)})`);
    return;
  }
  const left = st.result.hosts.filter((h) => h.sessions > 0);
  const where = left.map((h) => `${h.sessions} on ${h.host}`).join(', ');
  if (o.shutdownSessions) return closeSessions(st, left, where);
  throw new KhaError(
    `${o.server} still has ${st.result.sessionsLeft} session${st.result.sessionsLeft === 1 ? '' : 's'} open after ${o.timeoutS} s (${where}); it stays drained, no new connection goes to it`,
    {
      code: 'E_DRAIN_TIMEOUT',
      exit: ExitCode.timedOut,
      suggestions: [
        `wait longer: kha drain ... ${o.server} --timeout <seconds>; or close them (clients reconnect to the other masters): --shutdown-sessions`,
        `put it back: kha undrain ... ${o.server}`,
      ],
    },
  );
}

/** --shutdown-sessions at the timeout: haproxy closes the server's sessions; their clients reconnect elsewhere. */
async function closeSessions(st: DrainState, left: DrainHostResult[], where: string): Promise<void> {
  const { run, o } = st;
  run.events.info(`${o.server} still has sessions open after ${o.timeoutS} s (${where}): closing them (--shutdown-sessions)`);
  for (const h of left) h.closed = h.sessions;
  await setState(
    st,
    st.listed.filter((t) => left.some((h) => h.host === t.host)),
    'drain',
    true,
  );
}

/** -- CMD on the server as root, its output streamed; a failure leaves the server drained. */
async function runCommand(st: DrainState): Promise<void> {
  const { run, o } = st;
  const argv = [...(o.command ?? [])];
  const conn = await run.connector.get(run.host(o.server));
  const t0 = Date.now();
  let pending = { stdout: '', stderr: '' };
  const onOutput = (stream: 'stdout' | 'stderr', text: string) => {
    o.onOutput?.(stream, text);
    // the log gets it line by line
    const lines = (pending[stream] + text).split('\n');
    pending = { ...pending, [stream]: lines.pop() ?? '' };
    for (const l of lines) run.events.debug(`${stream === 'stderr' ? '! ' : ''}${l}`, o.server);
  };
  const r = await conn.exec({ script: quoteArgv(argv) }, { become: true, timeoutMs: o.commandTimeoutS * 1000, signal: run.opts.signal, onOutput });
  for (const [stream, rest] of Object.entries(pending)) if (rest) run.events.debug(`${stream === 'stderr' ? '! ' : ''}${rest}`, o.server);
  st.result.cmd = { argv, exit: r.code, signal: r.signal, ms: Date.now() - t0 };
  const shown = quoteArgv(argv);
  if (r.code === 0) {
    run.events.info(`\`${shown}\` exited 0 (${secs(st.result.cmd.ms)})`, o.server);
    return;
  }
  const how = r.timedOut ? `did not end within ${o.commandTimeoutS} s (killed)` : r.code === null ? `was killed (${r.signal ?? 'signal'})` : `exited ${r.code}`;
  throw new KhaError(`\`${shown}\` ${how} on ${o.server}; ${o.server} stays drained`, {
    code: 'E_COMMAND_FAILED',
    host: o.server,
    suggestions: [`once ${o.server} is fixed: kha undrain ... ${o.server}`],
  });
}

/** The host that asks the server's health path: a load balancer other than the server, as haproxy's checks ask. */
function prober(st: DrainState): string {
  return st.s.lbHosts.find((h) => h !== st.o.server) ?? st.s.lbHosts[0] ?? st.o.server;
}

/** Until the server's health path answers 200 (haproxy's check), or the ready timeout (exit 7, it stays drained). */
async function waitReady(st: DrainState): Promise<void> {
  const { run, o, s } = st;
  const from = prober(st);
  const h = s.hosts[o.server]!;
  const script = readyProbeScript(h.address, h.apiserverPort, s.apiserverHealthPath);
  const conn = await run.connector.get(run.host(from));
  const t0 = Date.now();
  st.result.ready = { from, ms: null, last: '' };
  for (;;) {
    const r = await conn.exec({ script }, { timeoutMs: 10_000 });
    const code = readyAnswer(r.stdout);
    st.result.ready.last = code;
    if (code === '200') {
      st.result.ready.ms = Date.now() - t0;
      run.events.info(`${o.server} answers ${s.apiserverHealthPath} with 200 (${secs(st.result.ready.ms)})`, from);
      return;
    }
    if (code === 'no-tool')
      throw new KhaError(`${from} has neither curl nor openssl to ask ${o.server}'s ${s.apiserverHealthPath}; install one of them there`, {
        code: 'E_NOT_READY',
        host: from,
      });
    if (Date.now() - t0 >= o.readyTimeoutS * 1000 || run.opts.signal.aborted) break;
    await sleep(POLL_MS);
  }
  interrupted(run);
  throw new KhaError(
    `${o.server} did not answer ${s.apiserverHealthPath} with 200 within ${o.readyTimeoutS} s (asked from ${from}, last: ${st.result.ready.last === '000' ? 'no answer' : `HTTP ${st.result.ready.last}`}); it stays drained`,
    {
      code: 'E_NOT_READY',
      exit: ExitCode.timedOut,
      host: o.server,
      suggestions: [`once its apiserver answers: kha undrain ... ${o.server}`],
    },
  );
}

/** After READY: until every haproxy's checks count the server UP (about 1 s); only a warning when they do not. */
async function waitUp(st: DrainState): Promise<void> {
  const { run, o } = st;
  const t0 = Date.now();
  const pending = await pollListed(st, (v) => v.status === 'UP', t0 + UP_WAIT_MS);
  st.result.upMs = pending.size ? null : Date.now() - t0;
  if (pending.size) run.events.warn(`${o.server} is READY but not counted UP yet on ${[...pending].join(', ')} after ${UP_WAIT_MS / 1000} s; see kha status`);
  else run.events.info(`every haproxy counts ${o.server} UP (${secs(st.result.upMs!)})`);
}

/** Ctrl-C during a wait: the run ends as interrupted, not as a wait that ran out. */
function interrupted(run: RunContext): void {
  if (run.opts.signal.aborted) throw run.opts.signal.reason instanceof Error ? run.opts.signal.reason : new Error('interrupted');
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

// ---- the two verbs --------------------------------------------------------------------------

function phases(st: DrainState): Phase<DrainState>[] {
  const { o, s } = st;
  const back: Phase<DrainState>[] = [
    { title: `Wait until ${o.server} answers ${s.apiserverHealthPath} (at most ${o.readyTimeoutS} s)`, run: waitReady },
    { title: `Put ${o.server} back: READY on every haproxy that lists it`, run: (x) => setState(x, x.listed, 'ready') },
    { title: `Wait until every haproxy counts ${o.server} UP`, run: waitUp },
  ];
  if (st.verb === 'undrain') return [lock, { title: `Find ${o.server} on every haproxy`, run: findServer }, ...back];
  return [
    lock,
    { title: `Find ${o.server} on every haproxy`, run: findServer },
    { title: `Drain ${o.server}: no new connection goes to it`, run: (x) => setState(x, x.listed, 'drain') },
    { title: `Wait until its sessions end (at most ${o.timeoutS} s)`, run: waitSessions },
    ...(o.command ? [{ title: `Run \`${quoteArgv([...o.command])}\` on ${o.server}`, run: runCommand }, ...back] : []),
  ];
}

async function go(run: RunContext, s: HaSettings, o: DrainOptions, verb: 'drain' | 'undrain'): Promise<DrainOutcome> {
  checkServer(
    s,
    run.inventory.hosts.map((h) => h.name),
    o.server,
    verb,
  );
  const st: DrainState = { run, s, o, verb, targets: drainTargets(s), listed: [], result: { server: o.server, hosts: [], skipped: [], drained: false } };
  try {
    await runPhases(st, run.events, phases(st), run.opts.signal);
  } catch (error) {
    return { result: st.result, error };
  } finally {
    run.events.emit({ type: 'recap', hosts: Object.fromEntries([...run.recap].filter(([h]) => st.result.hosts.some((x) => x.host === h))) });
  }
  return { result: st.result };
}

/** kha drain [-- CMD]: the outcome carries the error of a wait that ran out or a command that failed. */
export function drain(run: RunContext, s: HaSettings, o: DrainOptions): Promise<DrainOutcome> {
  return go(run, s, o, 'drain');
}

/** kha undrain: wait for the health path, then READY everywhere. */
export function undrain(run: RunContext, s: HaSettings, o: DrainOptions): Promise<DrainOutcome> {
  return go(run, s, o, 'undrain');
}

/** One line a human reads at the end. Pure. */
export function drainSummary(verb: 'drain' | 'undrain', r: DrainResult): string {
  const where = r.hosts.map((h) => `${h.host} ${h.status}${h.sessions ? ` (${h.sessions} session${h.sessions === 1 ? '' : 's'})` : ''}`).join(', ');
  const parts = [`${r.server}: ${r.drained ? 'drained' : 'not drained'} on ${where || 'no haproxy'}`];
  if (r.drainMs !== undefined) parts.push(r.drainMs === null ? `${r.sessionsLeft ?? 0} sessions left at the timeout` : `sessions ended in ${secs(r.drainMs)}`);
  const closed = r.hosts.reduce((a, h) => a + (h.closed ?? 0), 0);
  if (closed) parts.push(`${closed} closed (--shutdown-sessions)`);
  if (r.cmd) parts.push(`command exit ${r.cmd.exit ?? r.cmd.signal} after ${secs(r.cmd.ms)}`);
  if (r.ready?.ms != null) parts.push(`ready after ${secs(r.ready.ms)}`);
  if (r.upMs != null) parts.push(`UP everywhere after ${secs(r.upMs)}`);
  return `${verb}: ${parts.join('; ')}`;
}
