// kha up: the order lives here, and only here.
//   1. connect + facts   2. preflight (no change)   3. install   4. configure (validated, atomic)
//   5. start the primary, wait until `ip a s` shows the VIP   6. the others in serial batches
//   7. verify: one holder, VIP:frontend answers from every host, every backend listed
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../engine/context.js';
import { Found, runPhases, type Phase } from '../engine/phases.js';
import { FLUSH_HANDLERS, runPlay } from '../engine/play.js';
import { ExitCode, KhaError, PreflightError } from '../errors.js';
import type { HaSettings } from '../inventory/settings.js';
import { waitForModule } from '../modules/wait-for.js';
import { journalTail } from '../modules/service.js';
import { HAPROXY_BACKEND } from '../roles/haproxy.js';
import { HAPROXY_TRACK_SCRIPT } from '../roles/keepalived.js';
import { DUMP_LOCK } from '../roles/files.js';
import { KEEPALIVED_CONF, STATS_SOCKET, configureTasks, desiredFiles, featuresOn, haHandlers, installTasks, startTasks } from '../roles/ha.js';
import { preflightChecks } from './preflight.js';
import { ridingLock } from './lock.js';
import { PROBE_KEY, keyedHash } from '../modules/secret-file.js';
import { quote } from '../transport/quote.js';
import { BOOTSTRAP_LINE, certFindings, controlPlaneEndpoint, nextSteps, readCerts, requiredSans, type CertRead } from './bootstrap.js';
import { planHosts, showAndConfirm } from './plan.js';
import { settled, type Settled } from '../engine/plan-tasks.js';
import {
  acceptPlay,
  connectAndGather,
  rolloutLockPhase,
  playOrThrow,
  touchesVrrp,
  type Preflight,
  type UpOptions,
  type UpResult,
  type UpState,
} from './rollout.js';
import type { ProbedTasks, Task } from '../engine/types.js';
import type { ExecResult } from '../transport/types.js';
import { ETC_HOSTS_PHASE, NODE_PREFLIGHT_PHASE, changedHosts, nodeProxiesPhase } from './nodes.js';
import {
  haproxyStatScript,
  holdsVip,
  parseHaproxyStat,
  parseVipAnswers,
  parseVrrpListen,
  tcpConnectScript,
  vipAnswersScript,
  vridCollisions,
  vrrpListenScript,
} from './probes.js';

// the shared rollout state and steps (actions/rollout.ts), for the verbs and tests that import them from here
export { connectAndGather, playOrThrow, type Preflight, type UpOptions, type UpResult, type UpState } from './rollout.js';

/** What kha up's phases find and hand on: preflight's network and holders, Verify's result. */
export interface UpFindings {
  preflight: Found<Preflight>;
  /** the result `kha up` reports (`bootstrap`: no apiserver up yet); none when Verify did not run (check mode) */
  verified: Found<UpResult>;
}

export function upFindings(): UpFindings {
  return { preflight: new Found<Preflight>('preflight'), verified: new Found<UpResult>("Verify's result") };
}

export function upPhases(found: UpFindings = upFindings()): Phase<UpState>[] {
  const pf = found.preflight;
  const plan = new PlanPhase(pf);
  const install = new InstallPhase(plan);
  const certs = new CertsAhead(pf);
  return [
    {
      title: 'Connect and gather facts',
      run: async (st) => connectAndGather(st.run, [...new Set([...st.s.lbHosts, ...st.s.masters])]),
    },
    NODE_PREFLIGHT_PHASE,
    // the load balancers' lock rides in the Plan's round trip (PlanPhase); the other hosts kha
    // changes (nodes, /etc/hosts targets) are locked here, before anything is planned
    {
      ...rolloutLockPhase((st) => otherLocked(st)),
      title: 'Lock the other hosts kha changes (one kha run at a time)',
      shouldRun: (st) => otherLocked(st).length > 0,
    },
    { title: 'Preflight (nothing is changed yet)', run: async (st) => void pf.set(await preflight(st)) },
    certs,
    plan,
    // both plays take the Plan's probe results where they still hold (UpPlan.probed)
    install,
    {
      title: 'Configure keepalived and haproxy (validated before they replace the old files)',
      shouldRun: (st) => changing(st, plan.result).length > 0,
      run: async (st) => {
        const { tasks, probed } = plan.result;
        await playOrThrow(st, {
          name: 'configure',
          hosts: changing(st, plan.result),
          tasks: tasks.configure,
          probed,
          handlers: haHandlers(),
          flushHandlers: false,
          maxFailPercentage: 0,
        });
      },
    },
    {
      title: 'Start the primary and wait until it holds the VIP',
      shouldRun: () => plan.result.vrrp.kind !== 'converged',
      run: (st) => startPrimary(st, pf.get().net),
    },
    {
      title: 'Start the other load-balancer hosts in batches',
      shouldRun: (st) => st.s.lbHosts.length > 1 && plan.result.vrrp.kind !== 'converged',
      run: (st) => startOthers(st, breaksVrrp(plan.result.vrrp), plan.result.changed),
    },
    {
      title: 'Verify',
      shouldRun: (st) => !st.run.check,
      run: async (st) =>
        void found.verified.set(
          await verify(st, pf.get(), { checkScripts: plan.result.vrrp.kind === 'converged', ...(certs.read ? { certs: certs.read } : {}) }),
        ),
    },
    // the other topologies: node-local proxies on the workers, the /etc/hosts block everywhere
    nodeProxiesPhase(() => found.verified.peek()?.bootstrap === true),
    ETC_HOSTS_PHASE,
  ];
}

/** The hosts kha up changes besides the load balancers (their lock is the Plan's). */
function otherLocked(st: UpState): string[] {
  return changedHosts(st.s).filter((h) => !st.s.lbHosts.includes(h));
}

/** The apiservers' certificates as read on a load balancer (`on`), or the error that stopped the read. Never rejects. */
type CertsRead = Promise<Settled<CertRead[] | 'no-openssl'> & { on: string }>;

/** Start reading the certificates on `on` (a TLS handshake to each apiserver, through the VIP and directly). */
function readCertsOn(st: UpState, on: string): CertsRead {
  return settled(st.run.connector.get(st.run.host(on)).then((c) => readCerts(c, st.s, st.s.masters))).then((r) => ({ ...r, on }));
}

/**
 * On a rerun (the facts saw one host holding the VIP), Verify's costliest read, the TLS handshake
 * to every apiserver, starts here in the background and overlaps the Plan's round trips instead
 * of following them. Any load balancer reads the certificates alike (through the VIP and to each
 * master directly), so a VIP that moves meanwhile does not matter; the served certificates are
 * the apiservers', which kha never changes. A first converge (no VIP yet) reads them in Verify.
 */
class CertsAhead implements Phase<UpState> {
  readonly title = "Read the apiservers' certificates (in the background, for Verify)";
  read: CertsRead | undefined;

  constructor(private readonly pf: Found<Preflight>) {}

  shouldRun = (st: UpState): boolean => {
    const { holders } = this.pf.get();
    return !st.run.check && holders.length === 1 && st.run.alive(holders[0]!);
  };

  run = async (st: UpState): Promise<void> => {
    this.read = readCertsOn(st, this.pf.get().holders[0]!);
  };
}

/**
 * The install play, which holds how long apt took (the package task runs apt-get on every host
 * that needs it at once): `kha up` reports that time against the whole run's.
 */
class InstallPhase implements Phase<UpState> {
  readonly title = 'Install keepalived and haproxy';
  /** the hosts apt ran on and the play's wall time; undefined when no host needed a package */
  apt: { hosts: string[]; ms: number } | undefined;

  constructor(private readonly plan: PlanPhase) {}

  shouldRun = (st: UpState): boolean => changing(st, this.plan.result).length > 0;

  run = async (st: UpState): Promise<void> => {
    const { tasks, probed, changed } = this.plan.result;
    const hosts = changing(st, this.plan.result);
    const apt = hosts.filter((h) => (changed[h] ?? []).some((t) => tasks.install.includes(t)));
    const t0 = Date.now();
    try {
      await playOrThrow(st, { name: 'install', hosts, tasks: tasks.install, probed, maxFailPercentage: 0 });
    } finally {
      if (apt.length && !st.run.check) this.apt = { hosts: apt, ms: Date.now() - t0 };
    }
  };
}

/** The line that puts apt's time beside the run's (first converges spend most of their time there). Pure. */
export function aptTimeLine(apt: { hosts: string[]; ms: number }, runMs: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return `time in apt (update and install on ${apt.hosts.join(', ')}, at once): ${s(apt.ms)} of this run's ${s(runMs)}; everything else ${s(Math.max(0, runMs - apt.ms))}`;
}

/**
 * Where the cluster's VRRP stands once the Plan is known; the start phases follow from it.
 * - converged: nothing to change on any host and the VIP where it should be: the start phases
 *   would only re-check that, so they are skipped and Verify checks keepalived's check script on
 *   every host instead;
 * - split-brain: preflight found more than one holder; converging the configs may repair it;
 * - breaking: the keepalived change cannot be rolled host by host (old and new VRRP peers would
 *   not hear each other): the other hosts restart together, right after the primary;
 * - normal: the primary first, then the others in --serial batches.
 */
export type VrrpSituation =
  | { kind: 'converged'; holder: string; why: string }
  | { kind: 'split-brain'; holders: string[]; breaking: boolean }
  | { kind: 'breaking' }
  | { kind: 'normal' };

/** What the Plan phase found. */
export interface UpPlan {
  /** host -> what would change; hosts with nothing to change skip install and configure */
  changes: Record<string, string[]>;
  /** host -> the tasks that would change (the start batches settle VRRP only where they touch it) */
  changed: Record<string, Task<any>[]>;
  vrrp: VrrpSituation;
  /** the install and configure tasks it planned: the same objects run in those phases */
  tasks: { install: Task<any>[]; configure: Task<any>[] };
  /**
   * What the Plan's probes returned. The install and configure plays decide from them instead of
   * probing again, per host and task, while kha has changed nothing on that host since (the lock
   * keeps other kha runs out; an install that changed a host, e.g. writing haproxy's default
   * haproxy.cfg, makes its configure tasks probe again). Not the start plays: a service's state
   * changes by itself.
   */
  probed: ProbedTasks;
}

/** Must the other hosts restart together (a VRRP change that cannot be rolled)? */
export function breaksVrrp(v: VrrpSituation): boolean {
  return v.kind === 'breaking' || (v.kind === 'split-brain' && v.breaking);
}

/**
 * The Plan phase holds what it found, as k0sctl's Unlock phase holds its Lock phase: the phases
 * after it read `result`, not optional flags on the shared state.
 *
 * It also holds the load balancers' lock (/run/kha.lock, actions/lock.ts), taken in the same round
 * trip as the probes: the lock script goes first in each host's batch, so the probes are read under
 * it, as before, without a round trip of its own. A host locked by another run refuses the run
 * before anything is shown or changed. When nothing is to change (converged), the lock is given
 * back at once, beside Verify's reads; otherwise in the clean-up, however the run ends.
 */
class PlanPhase implements Phase<UpState> {
  readonly title = 'Plan';
  private readonly found = new Found<UpPlan>('the Plan');
  private release: (() => Promise<void>) | undefined;
  private released: Promise<void> | undefined;

  constructor(private readonly pf: Found<Preflight>) {}

  get result(): UpPlan {
    return this.found.get();
  }

  run = async (st: UpState): Promise<void> => {
    const { net, holders } = this.pf.get();
    const tasks = { install: installTasks(st.s), configure: configureTasks(st.s, net) };
    const lock = ridingLock(st.run, st.s.lbHosts, { command: st.opts.command ?? 'up', breakLock: st.opts.breakLock ?? false });
    await lock.prepare();
    const { changes, changed, probed } = await planHosts(st.run, st.s.lbHosts, [...tasks.install, ...tasks.configure, ...startTasks(st.s)], {
      probe: lock.probe,
      settle: async (printed) => void (this.release = await lock.settle(printed)),
    });
    const anyChange = Object.values(changes).some((c) => c.length > 0);
    if (holders.length > 1 && !anyChange) {
      throw new KhaError(
        `split brain: ${holders.join(' and ')} all hold the VIP ${st.s.vip}, and every config is as it should be: VRRP adverts are not getting through (multicast blocked? allow IP protocol 112 or set vrrp_unicast: true)`,
        {
          code: 'E_SPLIT_BRAIN',
          exit: ExitCode.unhealthy,
        },
      );
    }
    const breaking = await vrrpBreakingChange(st, net, changes);
    await showAndConfirm(
      st.run,
      changes,
      st.opts.confirm,
      breaking ? ['note: this VRRP change restarts keepalived on every other host at once, right after the primary'] : [],
    );
    const vrrp = vrrpSituation(st, holders, changes, breaking);
    if (vrrp.kind === 'converged') st.run.events.info(vrrp.why);
    this.found.set({ changes, changed, vrrp, tasks, probed });
    // nothing changes on the load balancers from here (Verify reads; /etc/hosts would write)
    if (vrrp.kind === 'converged' && !st.s.manageEtcHosts) this.released = this.release?.();
  };

  cleanup = async (): Promise<void> => {
    await (this.released ?? this.release?.());
  };
}

/**
 * VRRP parameters that old and new peers must share; a change in one cannot be rolled. Pure. The
 * auth pass enters only as its keyed hash (src/modules/secret-file.ts): vrrpSignatureScript
 * computes the same signature on the host, so the file's secret never leaves it.
 */
export function vrrpSignature(conf: string): string {
  const pick = (re: RegExp) => re.exec(conf)?.[1] ?? '-';
  const pass = /^\s*auth_pass\s+(\S+)/m.exec(conf)?.[1];
  return [
    pick(/^\s*virtual_router_id\s+(\d+)/m),
    pick(/^\s*advert_int\s+(\d+)/m),
    pass === undefined ? '-' : keyedHash(pass),
    /^\s*unicast_src_ip\s/m.test(conf) ? 'unicast' : 'multicast',
  ].join('|');
}

/** vrrpSignature of the file on the host, computed there (prints one line; nothing when the file is missing). */
export function vrrpSignatureScript(path: string): string {
  const f = quote(path);
  const pick = (kw: string, val: string) => `sed -n -E ${quote(`s/^[[:space:]]*${kw}[[:space:]]+(${val}).*/\\1/p`)} -- ${f} | head -n 1`;
  return [
    `[ -f ${f} ] || exit 0`,
    `v=$(${pick('virtual_router_id', '[0-9]+')}); a=$(${pick('advert_int', '[0-9]+')}); p=$(${pick('auth_pass', '[^[:space:]]+')})`,
    `if [ -n "$p" ]; then h=$(printf '%s%s' ${quote(PROBE_KEY)} "$p" | sha256sum); h=\${h%% *}; else h=-; fi`,
    `if grep -qE '^[[:space:]]*unicast_src_ip[[:space:]]' -- ${f}; then m=unicast; else m=multicast; fi`,
    `echo "\${v:--}|\${a:--}|$h|$m"`,
  ].join('\n');
}

/** Does the new keepalived.conf break VRRP between old and new peers on any running host? */
async function vrrpBreakingChange(st: UpState, net: Preflight['net'], changes: Record<string, string[]>): Promise<boolean> {
  const hosts = st.s.lbHosts.filter(
    (h) => st.run.facts.get(h)?.services.keepalived?.active === 'active' && (changes[h] ?? []).some((t) => t.includes(KEEPALIVED_CONF)),
  );
  const found = await Promise.all(
    hosts.map(async (h) => {
      const conn = await st.run.connector.get(st.run.host(h));
      const r = await conn.exec({ script: vrrpSignatureScript(KEEPALIVED_CONF) }, { become: true });
      const want = desiredFiles(st.s, net, h, featuresOn(st.s, st.run.facts.get(h))).find((f) => f.path === KEEPALIVED_CONF)!.content;
      return r.code === 0 && r.stdout.trim() !== '' && r.stdout.trim() !== vrrpSignature(want);
    }),
  );
  return found.some(Boolean);
}

/**
 * The cluster's VRRP situation (VrrpSituation). Pure over the run's state and the Plan: the Plan
 * checked every start task too (services started and enabled, each running the config on disk),
 * and the facts gathered this run say who holds the VIP.
 */
export function vrrpSituation(st: Pick<UpState, 'run' | 's'>, holders: string[], changes: Record<string, string[]>, breaking: boolean): VrrpSituation {
  if (holders.length > 1) return { kind: 'split-brain', holders, breaking };
  if (breaking) return { kind: 'breaking' };
  const why = convergedWhy(st, holders, changes);
  return why ? { kind: 'converged', holder: holders[0]!, why } : { kind: 'normal' };
}

/** Why the start phases have nothing to do (null: they run). */
function convergedWhy(st: Pick<UpState, 'run' | 's'>, holders: string[], changes: Record<string, string[]>): string | null {
  const { run, s } = st;
  if (run.check) return null;
  if (s.lbHosts.some((h) => !run.alive(h) || (changes[h]?.length ?? 1) > 0 || (run.notified.get(h)?.size ?? 0) > 0)) return null;
  if (holders.length !== 1) return null;
  const holder = holders[0]!;
  // with preemption the primary must hold it; with nopreempt whoever holds it keeps it
  if (!s.nopreempt && holder !== s.primary) return null;
  return `every host is converged and ${holder} holds the VIP ${s.vip}: nothing to start or restart (Verify checks keepalived's check script on every host)`;
}

/** Hosts the plan says have something to change. */
function changing(st: UpState, plan: UpPlan): string[] {
  return st.s.lbHosts.filter((h) => (plan.changes[h]?.length ?? 1) > 0);
}

/**
 * The settings against every host's facts, then (unless `probes: false`) the network: nobody else
 * answers on the VIP or advertises our VRID. Changes nothing; returns each host's network and who
 * holds the VIP, or throws PreflightError naming every problem.
 */
export async function preflight(st: UpState, opts: { probes?: boolean } = {}): Promise<Preflight> {
  const { s, run } = st;
  const facts = Object.fromEntries([...run.facts.entries()]);
  const pf = preflightChecks(s, facts);
  for (const w of pf.warnings) run.events.warn(w);
  const errors = pf.errors;
  if (pf.splitBrain) {
    run.events.warn(`split brain: ${pf.holders.join(' and ')} all hold the VIP ${s.vip}; kha goes on only if converging the configs can repair it`);
  }

  if (errors.length === 0 && opts.probes !== false) {
    const keepalivedActive = s.lbHosts.filter((h) => run.facts.get(h)?.services.keepalived?.active === 'active');
    const probeHost = s.primary;
    const conn = await run.connector.get(run.host(probeHost));
    const n = pf.net[probeHost]!;
    // both at once (each waits on the network, not on the host): the VIP must not answer on the
    // network unless one of our hosts holds it (a rerun), and nobody else advertises our VRID (the
    // field notes' "bogus VRRP packet"): listen before the first start
    const vipAnswers = async (): Promise<string[]> => {
      if (pf.holders.length > 0) return [];
      const r = await conn.exec({ script: vipAnswersScript(s.vip, n.iface) }, { become: true, timeoutMs: 10_000 });
      const mac = parseVipAnswers(r.stdout);
      return mac
        ? [`the VIP ${s.vip} already answers on the network (MAC ${mac}) and none of ${s.lbHosts.join(', ')} holds it; choose a free address for vip`]
        : [];
    };
    const vridTaken = async (): Promise<string[]> => {
      if (keepalivedActive.length > 0) return [];
      const seconds = 3 * s.advertInt + 1;
      run.events.info(`listening ${seconds} s for VRRP adverts with virtual_router_id ${s.virtualRouterId} on ${probeHost} ${n.iface}`);
      const r = await conn.exec({ script: vrrpListenScript(n.address, seconds) }, { become: true, timeoutMs: (seconds + 10) * 1000 });
      if (r.code !== 0 && !r.stdout.trim()) {
        run.events.warn(
          `could not listen for VRRP on ${probeHost} (${(r.stderr.trim().split('\n')[0] ?? '') || `exit ${r.code}`}); the VRID collision check was skipped`,
          probeHost,
        );
        return [];
      }
      const ours = Object.values(pf.net).map((x) => x.address);
      const others = vridCollisions(parseVrrpListen(r.stdout), s.virtualRouterId, ours);
      return others.length
        ? [
            `another VRRP router (${others.join(', ')}) already advertises virtual_router_id ${s.virtualRouterId} on this segment; set virtual_router_id to an unused value (1..255)`,
          ]
        : [];
    };
    for (const found of await Promise.all([vipAnswers(), vridTaken()])) errors.push(...found);
  }
  if (errors.length) {
    for (const e of errors) run.events.emit({ type: 'message', level: 'error', text: e });
    throw new PreflightError(
      errors.length === 1 ? `preflight: ${errors[0]}` : `preflight found ${errors.length} problems (listed above), first: ${errors[0]}`,
      {
        suggestions: ['nothing was changed on any host; fix the cause and run the command again'],
      },
    );
  }
  return { net: pf.net, holders: pf.holders };
}

export function vipWait(st: UpState, net: Preflight['net'], host: string) {
  const n = net[host]!;
  return {
    module: waitForModule,
    params: {
      title: `wait until ip a s ${n.iface} shows the VIP ${st.s.vip}`,
      cmd: { argv: ['ip', '-o', '-4', 'addr', 'show', 'dev', n.iface] },
      until: (r: { stdout: string }) => holdsVip(r.stdout, st.s.vip),
      timeoutMs: st.s.vipWaitTimeoutSec * 1000,
      intervalMs: 200,
      onTimeout: async () =>
        `interface ${n.iface}; keepalived journal:\n${await journalTail(await st.run.connector.get(st.run.host(host)), 'keepalived.service', 12)}`,
    },
  };
}

/**
 * keepalived silently disables a check script it considers unsafe; the holder would then never
 * lose its priority. Ask keepalived itself (SIGUSR1 dumps its state to /tmp/keepalived.data:
 * the script's `Status = GOOD` and `Insecure = no`); the journal's latest word is the fallback,
 * read only when the dump has no block for the script (journalctl is the costliest part of the
 * probe). The dump also holds `Password = ...`, and /tmp is world-writable: kha reads only the
 * script's lines, only from a regular root-owned file that is not a symlink, and removes the dump after.
 */
export function checkScriptProbe(name: string): string {
  const d = '/tmp/keepalived.data';
  return [
    // one reader of keepalived's dump at a time (the VRRP exporter reads it too, and each removes it after)
    `exec 9>${DUMP_LOCK}; flock -w 3 9 || true`,
    `p=$(cat /run/keepalived.pid 2>/dev/null); s=`,
    `if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then rm -f ${d}; kill -USR1 "$p"; i=0; while [ ! -s ${d} ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; fi`,
    // the script's block is read as soon as it is whole (its State line written), a few tries at most
    `j=0; while [ -f ${d} ] && [ ! -L ${d} ] && [ "$(stat -c %u ${d})" = 0 ]; do`,
    `  s=$(sed -n '/VRRP Script = ${name}$/,/State =/p' ${d} | grep -v -i 'password')`,
    `  case "$s" in *'State ='*) break ;; esac; j=$((j+1)); [ $j -ge 5 ] && break; sleep 0.02`,
    `done; rm -f ${d}; exec 9>&-`,
    `[ -n "$s" ] && printf '%s\\n' "$s"`,
    `echo @@journal@@; case "$s" in *'VRRP Script = ${name}'*) exit 0 ;; esac`,
    `journalctl -u keepalived.service -n 300 --no-pager -o cat 2>/dev/null | grep -E '${name}|SECURITY VIOLATION|Disabling track script|unsafe' | tail -n 1`,
  ].join('\n');
}

/** keepalived's dump decides when it has the script's block; the journal's latest word only when it has not. Pure. */
export function checkScriptState(out: string, name: string): 'good' | 'insecure' | 'pending' {
  const [data = '', journal = ''] = out.split('@@journal@@');
  if (data.includes(`VRRP Script = ${name}`)) {
    if (/Insecure = yes/.test(data)) return 'insecure';
    return /Status = GOOD/.test(data) ? 'good' : 'pending';
  }
  if (/SECURITY VIOLATION|Disabling track script|unsafe/i.test(journal)) return 'insecure';
  return new RegExp(`${name}.*(succeeded|now returning 0)`).test(journal) ? 'good' : 'pending';
}

export function checkPassing() {
  const name = HAPROXY_TRACK_SCRIPT;
  return {
    module: waitForModule,
    params: {
      title: `wait until keepalived's ${name} check passes`,
      cmd: { script: checkScriptProbe(name) },
      become: true,
      until: (r: { stdout: string }) => checkScriptState(r.stdout, name) === 'good',
      failWhen: (r: { stdout: string }) =>
        checkScriptState(r.stdout, name) === 'insecure'
          ? `keepalived disabled the check script as unsafe: the VIP would never move when haproxy fails; the script and its directory must be root-owned and not writable by others`
          : null,
      timeoutMs: 30_000,
      intervalMs: 500,
    },
  };
}

async function startPrimary(st: UpState, net: Preflight['net']): Promise<void> {
  const p = st.s.primary;
  await playOrThrow(st, {
    name: `start ${p}`,
    hosts: [p],
    // restarts and reloads happen before the waits, so the waits see the new config running
    tasks: [...startTasks(st.s), FLUSH_HANDLERS, vipWait(st, net, p), checkPassing()],
    handlers: haHandlers(),
  });
}

export async function vipHolders(st: UpState): Promise<string[]> {
  const out = await Promise.all(
    st.s.lbHosts.map(async (h) => {
      // hosts this run reached and gathered (a host being removed may be gone for good)
      if (!st.run.alive(h) || !st.run.facts.has(h)) return null;
      const conn = await st.run.connector.get(st.run.host(h));
      const r = await conn.exec({ argv: ['ip', '-o', '-4', 'addr', 'show'] });
      return holdsVip(r.stdout, st.s.vip) ? h : null;
    }),
  );
  return out.filter((x): x is string => x !== null);
}

async function startOthers(st: UpState, vrrpBreaking: boolean, changed: Record<string, Task<any>[]>): Promise<void> {
  const others = st.s.lbHosts.filter((h) => h !== st.s.primary);
  // with preemption (the default) the primary holds the VIP now and must keep it; with nopreempt
  // whoever holds it must keep it
  const expected = st.run.check ? null : st.s.nopreempt ? ((await vipHolders(st))[0] ?? st.s.primary) : st.s.primary;
  if (vrrpBreaking) {
    st.run.events.warn(
      'this VRRP change (mode, router id, advert interval or auth) cannot be rolled: old and new hosts would not hear each other; the other hosts restart together',
    );
  }
  const handlers = haHandlers();
  await playOrThrow(st, {
    name: 'start the others',
    hosts: others,
    serial: vrrpBreaking ? '100%' : st.opts.serial,
    maxFailPercentage: st.opts.maxFailPercentage ?? 0,
    tasks: [...startTasks(st.s), FLUSH_HANDLERS, checkPassing()],
    handlers,
    afterBatch: async (hosts) => {
      // where a service started or restarted, give VRRP one advert interval to settle; a batch that
      // only reloaded haproxy left keepalived alone (its check already passed: checkPassing above).
      // Either way the VIP must still be where it was.
      if (hosts.some((h) => touchesVrrp(changed[h] ?? [], handlers))) await sleep(st.s.advertInt * 1000);
      const holders = await vipHolders(st);
      if (holders.length !== 1 || holders[0] !== expected) {
        throw new KhaError(`the VIP moved while starting ${hosts.join(', ')}: held by ${holders.join(' and ') || 'no host'}, expected ${expected}`, {
          code: 'E_VIP_MOVED',
        });
      }
      st.run.events.info(`batch done: ${hosts.join(', ')} started; the VIP ${st.s.vip} is still on ${expected}`);
    },
  });
}

/**
 * The one host that holds the VIP; none or several is an unhealthy cluster. An election can be under
 * way as Verify starts (a check that just failed or passed on a loaded host moves the VIP in under a
 * second), so none or several is only believed once it lasts a backup's master-down time
 * (3 x advert_int + 1 s), polled every 250 ms.
 */
async function theHolder(st: UpState): Promise<string> {
  const { s } = st;
  const deadline = Date.now() + (3 * s.advertInt + 1) * 1000;
  let holders = await vipHolders(st);
  while (holders.length !== 1 && Date.now() < deadline && !st.run.opts.signal.aborted) {
    await sleep(250);
    holders = await vipHolders(st);
  }
  if (holders.length === 0)
    throw new KhaError(`no host holds the VIP ${s.vip}; see kha status and keepalived's journal`, { code: 'E_NO_HOLDER', exit: ExitCode.unhealthy });
  if (holders.length > 1) {
    throw new KhaError(
      `split brain: ${holders.join(' and ')} all hold the VIP ${s.vip}; VRRP adverts are not getting through (multicast blocked? try vrrp_unicast: true)`,
      { code: 'E_SPLIT_BRAIN', exit: ExitCode.unhealthy },
    );
  }
  return holders[0]!;
}

/** The load-balancer hosts from which VIP:frontend does not take a TCP connection (10 tries, 0.3 s apart). */
function frontendFailures(st: UpState): Promise<string[]> {
  const { s, run } = st;
  return Promise.all(
    s.lbHosts.map(async (h) => {
      const conn = await run.connector.get(run.host(h));
      for (let i = 0; i < 10; i++) {
        const r = await conn.exec({ script: tcpConnectScript(s.vip, s.frontendPort) });
        if (r.code === 0) return null;
        await sleep(300);
      }
      return h;
    }),
  ).then((hosts) => hosts.filter((h): h is string => h !== null));
}

/** haproxy's servers on the holder; every master must be listed. */
function listedBackends(st: UpState, holder: string, stat: ExecResult) {
  const servers = parseHaproxyStat(stat.stdout).filter((b) => b.backend === HAPROXY_BACKEND);
  const missing = st.s.masters.filter((m) => !servers.some((b) => b.server === m));
  if (stat.code !== 0 || missing.length) {
    throw new KhaError(
      `haproxy on ${holder} does not list ${missing.length ? missing.join(', ') : 'its backends'} (${(stat.stderr.trim() || 'stats socket').split('\n')[0]})`,
      { code: 'E_BACKENDS' },
    );
  }
  return servers;
}

/** What the backends' state means: none up is the greenfield state; some down is a warning; certificates checked. */
async function reportBackends(
  st: UpState,
  holder: string,
  servers: { server: string; status: string }[],
  upNames: string[],
  certsOf: (up: string[]) => Promise<{ problems: string[]; note?: string }>,
): Promise<void> {
  const { s, run } = st;
  if (upNames.length === 0) {
    // greenfield (before kubeadm init) or a full outage: the expected state, not an error
    run.events.info(
      `${BOOTSTRAP_LINE} (expected before kubeadm init): ${s.vip}:${s.frontendPort} accepts connections and reaches the first apiserver that starts; the VIP stays on ${holder}`,
    );
    return;
  }
  // a drained server (kha drain) is not down: it takes no new connection until kha undrain
  const drained = servers.filter((b) => b.status.startsWith('DRAIN')).map((b) => b.server);
  const down = servers.filter((b) => !b.status.startsWith('UP') && !b.status.startsWith('DRAIN')).map((b) => b.server);
  if (drained.length) run.events.info(`drained (kha drain): ${drained.join(', ')}; kha undrain puts ${drained.length === 1 ? 'it' : 'them'} back`);
  if (down.length) run.events.warn(`backends down: ${down.join(', ')} (kube-apiserver not answering ${s.apiserverHealthPath} yet?)`);
  const certs = await certsOf(upNames);
  for (const p of certs.problems) run.events.warn(p);
  if (certs.note) run.events.info(certs.note);
}

/** up's result document (--json), from the verified state. */
function upResult(st: UpState, net: Preflight['net'], holder: string, up: number, total: number): UpResult {
  const { s, run } = st;
  return {
    vip: s.vip,
    frontendPort: s.frontendPort,
    holder,
    endpoint: `${s.vip}:${s.frontendPort}`,
    changed: [...run.recap.values()].some((r) => r.changed > 0),
    hosts: s.lbHosts.map((h) => ({
      name: h,
      address: net[h]?.address ?? s.hosts[h]!.address,
      interface: net[h]?.iface ?? '',
      priority: s.hosts[h]!.priority,
      primary: h === s.primary,
      holdsVip: h === holder,
      ...(h === holder ? { backendsUp: up, backendsTotal: total } : {}),
    })),
    apiserversUp: up,
    bootstrap: up === 0,
    ...(up === 0 ? { nextSteps: nextSteps(s) } : {}),
  };
}

/**
 * checkScripts: also wait for keepalived's check script on every host (the start phases, which do
 * that, were skipped).
 *
 * Everything starts at once: the search for the holder, VIP:frontend from every host, the check
 * scripts and the certificates need no holder (any load balancer reads the certificates alike:
 * kha up has them read already, CertsAhead), and haproxy's stat starts on the host the facts saw
 * holding the VIP (a converged rerun); only if the holder turns out to be another host is it read
 * again there. Reported in this order: the holder, the frontend, the check scripts, the backends.
 */
export async function verify(st: UpState, pf: Preflight, opts: { checkScripts?: boolean; certs?: CertsRead } = {}): Promise<UpResult> {
  const { s, run } = st;
  const statOn = (h: string) => settled(run.connector.get(run.host(h)).then((c) => c.exec({ script: haproxyStatScript(STATS_SOCKET) }, { become: true })));
  const guess = pf.holders.length === 1 && run.alive(pf.holders[0]!) ? pf.holders[0]! : undefined;
  const guessStat = guess ? statOn(guess) : undefined;
  const certs = opts.certs ?? readCertsOn(st, guess ?? s.lbHosts.find((h) => run.alive(h)) ?? s.primary);
  const failedP = settled(frontendFailures(st));
  const checks = opts.checkScripts
    ? settled(runPlay(run, { name: 'check scripts', hosts: s.lbHosts, tasks: [checkPassing()], maxFailPercentage: 0 }))
    : undefined;
  const found = await settled(theHolder(st));
  if ('err' in found) {
    await Promise.all([failedP, checks, guessStat, certs]);
    throw found.err;
  }
  const holder = found.r;
  const certsOf = async (upNames: string[]) => {
    const c = await certs;
    if ('err' in c) throw c.err;
    return certFindings(s, c.r, upNames, c.on);
  };
  const [failed, stat, checked] = await Promise.all([failedP, holder === guess && guessStat ? guessStat : statOn(holder), checks]);
  if ('err' in failed) throw failed.err;
  if (failed.r.length)
    throw new KhaError(`${s.vip}:${s.frontendPort} does not answer from ${failed.r.join(', ')}; check haproxy on ${holder}`, { code: 'E_FRONTEND' });
  if (checked) {
    if ('err' in checked) throw checked.err;
    acceptPlay(st, checked.r);
  }
  if ('err' in stat) throw stat.err;
  const servers = listedBackends(st, holder, stat.r);
  const upNames = servers.filter((b) => b.status.startsWith('UP')).map((b) => b.server);
  const up = upNames.length;
  run.events.info(`VIP ${s.vip} on ${holder}; ${s.vip}:${s.frontendPort} answers from every host; haproxy backends up ${up}/${servers.length}`);
  await reportBackends(st, holder, servers, upNames, certsOf);
  if (up > 0) run.events.info(`control-plane endpoint: ${controlPlaneEndpoint(s)} (certSANs: ${requiredSans(s).join(', ')})`);
  return upResult(st, pf.net, holder, up, servers.length);
}

/** kha up: the phases in order; the state, what preflight found and Verify's result (none in check mode). */
export async function up(run: RunContext, s: HaSettings, opts: UpOptions): Promise<{ st: UpState; found: UpFindings }> {
  const st: UpState = { run, s, opts, plays: [] };
  const found = upFindings();
  const phases = upPhases(found);
  const t0 = Date.now();
  try {
    await runPhases(st, run.events, phases, run.opts.signal);
  } finally {
    const apt = phases.find((p): p is InstallPhase => p instanceof InstallPhase)?.apt;
    if (apt) run.events.info(aptTimeLine(apt, Date.now() - t0));
    run.events.emit({ type: 'recap', hosts: Object.fromEntries(run.recap) });
    const result = found.verified.peek();
    if (result) run.events.emit({ type: 'result', data: result });
  }
  return { st, found };
}
