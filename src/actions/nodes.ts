// Worker nodes and /etc/hosts: the phases `kha up` (and add/remove-master) run after the
// load-balancer hosts are done.
//   node-local proxy: on every node, haproxy (or nginx) on 127.0.0.1:<apiserver_port> -> every
//     master; rolled through the nodes in --serial batches, each batch proven by a request
//     through the proxy before the next one starts.
//   /etc/hosts: a marked block on every host (masters, load balancers, nodes) with every host's
//     name and `<vip> <api_endpoint_name>`; the operator's own lines are never touched.
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunContext } from '../engine/context.js';
import type { Phase } from '../engine/phases.js';
import type { Handler, HostContext, Task } from '../engine/types.js';
import { ExitCode, KhaError, PreflightError, describeError } from '../errors.js';
import { markedSections } from '../facts/sections.js';
import type { Facts } from '../facts/types.js';
import type { HaSettings } from '../inventory/settings.js';
import { appliedModule, commandModule, fileModule, packageModule, serviceModule, templateModule } from '../modules/index.js';
import { blockInFileModule } from '../modules/blockinfile.js';
import { quote } from '../transport/quote.js';
import {
  HAPROXY_DROPIN_PATH,
  HAPROXY_TMPFILES_PATH,
  HAPROXY_VALIDATE_ARGV,
  renderHaproxyDropIn,
  renderHaproxyTmpfiles,
} from '../roles/files.js';
import { H_RELOAD_HAPROXY, H_RESTART_HAPROXY, HAPROXY_CFG, STATS_SOCKET } from '../roles/ha.js';
import { etcHostsEntries, renderEtcHostsBlock } from '../roles/etc-hosts.js';
import {
  NGINX_CONF,
  NGINX_VALIDATE_ARGV,
  NODE_PROXY_BACKEND,
  countNginxServers,
  nginxModulesInclude,
  nginxPackages,
  renderNodeHaproxy,
  renderNodeNginx,
  type NodeHaproxyVars,
  type NodeNginxVars,
} from '../roles/node-proxy.js';
import { haproxyStatScript, parseHaproxyStat } from './probes.js';
import { playOrThrow, type UpState } from './rollout.js';

export const ETC_HOSTS = '/etc/hosts';
export const H_RELOAD_NGINX = 'reload nginx';
export const H_RESTART_NGINX = 'restart nginx';
/** a line only kha's node-proxy configs hold: tells our haproxy.cfg / nginx.conf from an operator's */
const NODE_PROXY_MARK = 'Node-local apiserver proxy';
/** how long a batch's nodes may take to answer through their new proxy */
const PROXY_READY_TIMEOUT_MS = 30_000;

// ---- rendering ------------------------------------------------------------------------------

/** the port a node's proxy listens on: its apiserver_port (the port kubelet's kubeconfig names) */
export function nodeListenPort(s: HaSettings, node: string): number {
  return s.hosts[node]?.apiserverPort ?? s.apiserverPort;
}

function backends(s: HaSettings) {
  return s.masters.map((m) => ({ name: m, address: s.hosts[m]!.address, port: s.hosts[m]!.apiserverPort }));
}

export function nodeHaproxyVars(s: HaSettings, node: string): NodeHaproxyVars {
  return {
    listenPort: nodeListenPort(s, node),
    backends: backends(s),
    healthPath: s.apiserverHealthPath,
    timeouts: { connect: s.timeouts.connect, client: s.timeouts.client, server: s.timeouts.server, tunnel: s.timeouts.client },
    statsSocket: STATS_SOCKET,
  };
}

export function nodeNginxVars(s: HaSettings, node: string, pkgMgr: 'apt' | 'dnf' | 'yum' | null): NodeNginxVars {
  return {
    listenPort: nodeListenPort(s, node),
    backends: backends(s),
    user: pkgMgr === 'apt' ? 'www-data' : 'nginx',
    modulesInclude: nginxModulesInclude(pkgMgr),
  };
}

/** The config file of the node's proxy, rendered for that host. */
export function nodeProxyFile(s: HaSettings, node: string, pkgMgr: 'apt' | 'dnf' | 'yum' | null): { path: string; content: string } {
  return s.nodeProxy === 'nginx'
    ? { path: NGINX_CONF, content: renderNodeNginx(nodeNginxVars(s, node, pkgMgr)) }
    : { path: HAPROXY_CFG, content: renderNodeHaproxy(nodeHaproxyVars(s, node)) };
}

// ---- tasks ----------------------------------------------------------------------------------

/** Stop and disable `unit` only when it runs kha's node-proxy config (never an operator's own nginx/haproxy). */
function retireOther(unit: 'haproxy' | 'nginx', conf: string): Task<any> {
  const q = quote(conf);
  return {
    module: commandModule,
    params: {
      title: `stop + disable ${unit} (kha's previous node-local proxy)`,
      cmd: { argv: ['systemctl', 'disable', '--now', `${unit}.service`] },
      // nothing to do unless the unit runs (or would start at boot with) kha's node-proxy config
      unless: { script: `! { grep -qsF ${quote(NODE_PROXY_MARK)} ${q} && { systemctl is-active --quiet ${unit}.service || systemctl is-enabled --quiet ${unit}.service; }; }` },
    },
  };
}

/** Install, configure (validated, atomic) and start the node-local proxy; reloads via handlers. */
export function nodeProxyTasks(s: HaSettings): Task<any>[] {
  if (s.nodeProxy === 'nginx') {
    return [
      { module: packageModule, params: (hc: HostContext) => ({ names: nginxPackages(hc.facts.pkgMgr), noStart: true }) },
      {
        module: templateModule,
        params: (hc: HostContext) => ({
          path: NGINX_CONF,
          content: renderNodeNginx(nodeNginxVars(s, hc.host.name, hc.facts.pkgMgr)),
          mode: 0o644,
          owner: 'root',
          group: 'root',
          validate: [...NGINX_VALIDATE_ARGV],
        }),
        notify: [H_RELOAD_NGINX],
      },
      retireOther('haproxy', HAPROXY_CFG),
      { module: serviceModule, params: { name: 'nginx', state: 'started', enabled: true, record: [NGINX_CONF] }, clears: [H_RELOAD_NGINX, H_RESTART_NGINX] },
      { module: appliedModule, params: { unit: 'nginx.service', files: [NGINX_CONF] }, notify: [H_RELOAD_NGINX] },
    ];
  }
  return [
    { module: packageModule, params: { names: ['haproxy'], noStart: true, ...(s.haproxyVersion ? { versions: { haproxy: s.haproxyVersion } } : {}) } },
    { module: fileModule, params: { path: '/etc/systemd/system/haproxy.service.d', state: 'directory', mode: 0o755, owner: 'root', group: 'root' } },
    { module: templateModule, params: { path: HAPROXY_DROPIN_PATH, content: renderHaproxyDropIn(), mode: 0o644, owner: 'root', group: 'root' }, notify: [H_RESTART_HAPROXY] },
    { module: templateModule, params: { path: HAPROXY_TMPFILES_PATH, content: renderHaproxyTmpfiles(), mode: 0o644, owner: 'root', group: 'root' } },
    {
      module: templateModule,
      params: (hc: HostContext) => ({
        path: HAPROXY_CFG,
        content: renderNodeHaproxy(nodeHaproxyVars(s, hc.host.name)),
        mode: 0o644,
        owner: 'root',
        group: 'root',
        validate: [...HAPROXY_VALIDATE_ARGV],
      }),
      notify: [H_RELOAD_HAPROXY],
    },
    retireOther('nginx', NGINX_CONF),
    {
      module: serviceModule,
      params: { name: 'haproxy', state: 'started', enabled: true, daemonReload: true, record: [HAPROXY_CFG] },
      clears: [H_RELOAD_HAPROXY, H_RESTART_HAPROXY],
    },
    { module: appliedModule, params: { unit: 'haproxy.service', files: [HAPROXY_CFG] }, notify: [H_RELOAD_HAPROXY] },
  ];
}

/** Restarts and reloads of either proxy; a failed one puts the previous config back. */
export function nodeProxyHandlers(): Handler<any>[] {
  return [
    { name: H_RESTART_HAPROXY, module: serviceModule, params: { name: 'haproxy', state: 'restarted', daemonReload: true, rollback: [HAPROXY_CFG], record: [HAPROXY_CFG] } },
    { name: H_RELOAD_HAPROXY, module: serviceModule, params: { name: 'haproxy', state: 'reloaded', rollback: [HAPROXY_CFG], record: [HAPROXY_CFG] } },
    { name: H_RESTART_NGINX, module: serviceModule, params: { name: 'nginx', state: 'restarted', rollback: [NGINX_CONF], record: [NGINX_CONF] } },
    { name: H_RELOAD_NGINX, module: serviceModule, params: { name: 'nginx', state: 'reloaded', rollback: [NGINX_CONF], record: [NGINX_CONF] } },
  ];
}

/** The kha block of /etc/hosts (every cluster host by name, the endpoint name on the VIP). */
export function etcHostsTasks(s: HaSettings): Task<any>[] {
  return [
    {
      module: blockInFileModule,
      params: { path: ETC_HOSTS, block: renderEtcHostsBlock(etcHostsEntries(s)), mode: 0o644, owner: 'root', group: 'root' },
    },
  ];
}

/** Every host /etc/hosts is kept on: masters, load balancers, nodes (each once, in that order). */
export function etcHostsTargets(s: HaSettings): string[] {
  return [...new Set([...s.masters, ...s.lbHosts, ...s.nodes])];
}

// ---- probes (pure scripts and parsers) ------------------------------------------------------

/**
 * One request through the node's proxy: curl prints the HTTP status (000 when nothing answered);
 * without curl, a TCP connect (bash /dev/tcp) prints `tcp`.
 */
export function proxyProbeScript(port: number, path = '/healthz'): string {
  const url = quote(`https://127.0.0.1:${port}${path}`);
  return [
    'if command -v curl >/dev/null 2>&1; then',
    `  curl -sk --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' ${url}`,
    'else',
    `  ${tcpProbeScript(port)}`,
    'fi',
  ].join('\n');
}

/** A TCP connect to the node's proxy (bash /dev/tcp): prints `tcp` when it accepts. */
export function tcpProbeScript(port: number): string {
  return `timeout 3 bash -c ${quote(`exec 3<>/dev/tcp/127.0.0.1/${port}`)} && echo tcp`;
}

/**
 * Did an apiserver answer through the proxy? 200, or 401/403 (an apiserver that refuses anonymous
 * requests still answered over TLS), or a TCP connect when there is no curl.
 */
export function proxyAnswered(stdout: string): boolean {
  const out = stdout.trim();
  return out === 'tcp' || out === '200' || out === '401' || out === '403';
}

// ---- phases ---------------------------------------------------------------------------------

/** Connect to and gather facts of `hosts` (cached per run); unreachable hosts stop the phase before any change. */
async function gather(run: RunContext, hosts: string[], what: string): Promise<void> {
  const todo = hosts.filter((h) => !run.facts.has(h) && run.alive(h));
  const results = await Promise.allSettled(todo.map((h) => run.facts0(h)));
  const bad: Array<{ host: string; err: unknown }> = [];
  results.forEach((r, i) => {
    const h = todo[i]!;
    if (r.status === 'rejected') {
      run.markUnreachable(h, r.reason);
      run.events.emit({ type: 'task', host: h, task: 'connect and gather facts', status: 'unreachable', error: describeError(r.reason), ms: 0, check: run.check });
      bad.push({ host: h, err: r.reason });
    } else {
      run.count(h, 'ok');
      run.events.emit({ type: 'task', host: h, task: 'connect and gather facts', status: 'ok', why: `${r.value.os.prettyName}, ${r.value.pkgMgr ?? 'no package manager'}`, ms: 0, check: run.check });
    }
  });
  const gone = [...bad.map((b) => b.host), ...hosts.filter((h) => run.unreachable.has(h) && !bad.some((b) => b.host === h))];
  if (gone.length) {
    const first = bad[0] ? describeError(bad[0].err) : (run.unreachable.get(gone[0]!) ?? 'unreachable');
    throw new KhaError(`${gone.join(', ')} ${gone.length === 1 ? 'is' : 'are'} unreachable (${first}); nothing was changed ${what}`, {
      code: 'E_UNREACHABLE',
      exit: ExitCode.unreachable,
    });
  }
}

/** Pure: what stops a node from running the proxy (facts only). */
export function nodePreflightErrors(s: HaSettings, facts: Record<string, Facts>): string[] {
  const errors: string[] = [];
  for (const n of s.nodes) {
    const f = facts[n];
    if (!f) continue;
    if (!f.pkgMgr) errors.push(`${n}: ${f.os.prettyName} has no apt, dnf or yum; kha installs the node-local proxy with them`);
    if (!f.systemd) errors.push(`${n}: systemd is not running; kha runs the node-local proxy as a systemd service`);
    const port = nodeListenPort(s, n);
    const busy = f.listening.find(
      (l) => l.port === port && ['127.0.0.1', '0.0.0.0', '*', '::', ''].includes(l.address) && l.process !== undefined && l.process !== 'haproxy' && l.process !== 'nginx',
    );
    if (busy) {
      errors.push(
        `${n}: port ${port} is already in use by ${busy.process} (${busy.address || '*'}:${port}); the node-local proxy listens on 127.0.0.1:${port}. A kube-apiserver here? Then ${n} is a master: list it under ${s.mastersGroup}, not only under the nodes group`,
      );
    }
  }
  return errors;
}

/**
 * Connect to the nodes (when a feature needs them) and check them for the proxy; throws before
 * anything is changed on a node. Facts are cached per run: cheap to call again.
 */
export async function nodePreflight(st: UpState): Promise<void> {
  const { s, run } = st;
  if (!(s.nodeLocalProxy || s.manageEtcHosts) || s.nodes.length === 0) return;
  await gather(run, s.nodes, 'on the nodes');
  if (!s.nodeLocalProxy) return;
  const errors = nodePreflightErrors(s, Object.fromEntries([...run.facts.entries()]));
  if (errors.length) {
    for (const e of errors) run.events.emit({ type: 'message', level: 'error', text: e });
    throw new PreflightError(errors.length === 1 ? `preflight: ${errors[0]}` : `node preflight found ${errors.length} problems (listed above), first: ${errors[0]}`, {
      suggestions: ['nothing was changed on the nodes; fix the cause and run the command again'],
    });
  }
}

/** Wait until every host of the batch answers through its own proxy. */
async function proxiesAnswer(st: UpState, hosts: string[]): Promise<void> {
  const { s, run } = st;
  const failed: string[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      const conn = await run.connector.get(run.host(h));
      const port = nodeListenPort(s, h);
      const t0 = Date.now();
      let last = '';
      // before kubeadm init no apiserver can answer: the proxy must then accept connections, no more
      const script = st.bootstrap ? tcpProbeScript(port) : proxyProbeScript(port);
      for (;;) {
        const r = await conn.exec({ script }, { timeoutMs: 10_000 });
        last = r.stdout.trim() || r.stderr.trim().split('\n')[0] || `exit ${r.code}`;
        if (proxyAnswered(r.stdout)) {
          run.events.info(
            st.bootstrap
              ? `127.0.0.1:${port} accepts connections (the node-local ${s.nodeProxy}; no apiserver answers yet, it will reach the first one that starts)`
              : `https://127.0.0.1:${port}/healthz answers (${last}) through the node-local ${s.nodeProxy}`,
            h,
          );
          return;
        }
        if (Date.now() - t0 > PROXY_READY_TIMEOUT_MS || run.opts.signal.aborted) break;
        await sleep(500);
      }
      failed.push(`${h} (last: ${last})`);
    }),
  );
  if (failed.length) {
    if (st.bootstrap) {
      throw new KhaError(`the node-local ${s.nodeProxy} does not accept connections on 127.0.0.1 on ${failed.join(', ')} within ${PROXY_READY_TIMEOUT_MS / 1000} s; check it there (journalctl -u ${s.nodeProxy})`, { code: 'E_NODE_PROXY' });
    }
    throw new KhaError(`no apiserver answers through the node-local proxy on ${failed.join(', ')} within ${PROXY_READY_TIMEOUT_MS / 1000} s; check ${s.nodeProxy} there (journalctl -u ${s.nodeProxy})`, {
      code: 'E_NODE_PROXY',
    });
  }
}

/** Install, configure and start the node-local proxy on every node, in --serial batches. */
export async function nodeProxyPhase(st: UpState): Promise<void> {
  const { s, run } = st;
  if (!s.nodeLocalProxy || s.nodes.length === 0) return;
  await nodePreflight(st);
  await playOrThrow(st, {
    name: `node-local ${s.nodeProxy}`,
    hosts: s.nodes,
    serial: st.opts.serial,
    maxFailPercentage: st.opts.maxFailPercentage ?? 0,
    tasks: nodeProxyTasks(s),
    handlers: nodeProxyHandlers(),
    afterBatch: async (hosts) => {
      await proxiesAnswer(st, hosts);
      run.events.info(`batch done: ${hosts.join(', ')} reach the apiservers through 127.0.0.1`);
    },
  });
}

/** Keep the kha block of /etc/hosts on every host. */
export async function etcHostsPhase(st: UpState): Promise<void> {
  const { s, run } = st;
  if (!s.manageEtcHosts) return;
  const hosts = etcHostsTargets(s);
  await gather(run, hosts, 'in /etc/hosts');
  await playOrThrow(st, { name: '/etc/hosts', hosts, maxFailPercentage: 0, tasks: etcHostsTasks(s) });
}

/** Ready-made phases for a verb's list (the order stays in the verb's file). */
export const NODE_PROXY_PHASE: Phase<UpState> = {
  title: 'Node-local apiserver proxies on the nodes (in batches, each proven through 127.0.0.1)',
  shouldRun: (st) => st.s.nodeLocalProxy && st.s.nodes.length > 0,
  run: nodeProxyPhase,
};
export const ETC_HOSTS_PHASE: Phase<UpState> = {
  title: 'The kha block in /etc/hosts on every host',
  shouldRun: (st) => st.s.manageEtcHosts,
  run: etcHostsPhase,
};
export const NODE_PREFLIGHT_PHASE: Phase<UpState> = {
  title: 'Connect to the nodes and check them (nothing is changed yet)',
  shouldRun: (st) => (st.s.nodeLocalProxy || st.s.manageEtcHosts) && st.s.nodes.length > 0,
  run: nodePreflight,
};

/** Every host a run changes: the load balancers, plus the nodes and /etc/hosts targets when those are on (for the lock). */
export function changedHosts(s: HaSettings): string[] {
  return [...new Set([...s.lbHosts, ...(s.nodeLocalProxy ? s.nodes : []), ...(s.manageEtcHosts ? etcHostsTargets(s) : [])])];
}

// ---- status ---------------------------------------------------------------------------------

export interface NodeProxyStatus {
  name: string;
  address: string;
  proxy: 'haproxy' | 'nginx';
  /** systemctl is-active, or 'unreachable' */
  active: string;
  /**
   * haproxy: servers UP on the stats socket; nginx (no active checks, no stats): servers the node
   * itself can open a TCP connection to right now (kha's probe); null when unknown
   */
  backendsUp: number | null;
  /** haproxy: servers on the stats socket; nginx: servers in nginx.conf */
  backendsTotal: number | null;
  error?: string;
}

const MARK = '@@kha-node@@';

export function nodeStatusScript(proxy: 'haproxy' | 'nginx'): string {
  return [
    `echo ${MARK}active; systemctl is-active ${proxy}.service`,
    ...(proxy === 'haproxy'
      ? [`echo ${MARK}stat; ${haproxyStatScript(STATS_SOCKET)} 2>/dev/null`]
      : [`echo ${MARK}conf; cat ${quote(NGINX_CONF)} 2>/dev/null`, `echo ${MARK}probe`, nginxProbeScript()]),
    `echo ${MARK}end`,
  ].join('\n');
}

/**
 * nginx OSS keeps no health state kha can read, so the node probes every server of kha's upstream
 * itself: a TCP connect from the node, 2 s at most, all servers at once. The addresses come out of
 * the config through patterns that admit only digits, dots, colons and hex (IPv6 in brackets), and
 * reach bash as arguments, never as code.
 */
export function nginxProbeScript(confPath: string = NGINX_CONF): string {
  return [
    `sed -n -e 's/^ *server \\[\\([0-9a-fA-F:.]*\\)\\]:\\([0-9]*\\) .*/\\1 \\2/p' -e 's/^ *server \\([0-9.]*\\):\\([0-9]*\\) .*/\\1 \\2/p' ${quote(confPath)} 2>/dev/null |`,
    `  { while read -r a p; do`,
    `    ( if timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$a" "$p" 2>/dev/null; then echo "up $a $p"; else echo "down $a $p"; fi ) &`,
    // the probes are children of the pipeline's subshell: it waits for them, not the outer shell
    `  done; wait; }`,
  ].join('\n');
}

/** Pure: the status row from the script's output. */
export function parseNodeStatus(out: string, base: Pick<NodeProxyStatus, 'name' | 'address' | 'proxy'>): NodeProxyStatus {
  const sec = markedSections(out, MARK);
  const active = (sec.get('active') ?? []).join('').trim() || 'unknown';
  if (base.proxy === 'nginx') {
    const conf = (sec.get('conf') ?? []).join('\n');
    const probed = (sec.get('probe') ?? []).map((l) => l.trim().split(' ')[0]).filter((w) => w === 'up' || w === 'down');
    return {
      ...base,
      active,
      backendsUp: probed.length ? probed.filter((w) => w === 'up').length : null,
      backendsTotal: conf.trim() ? countNginxServers(conf) : null,
    };
  }
  const servers = parseHaproxyStat((sec.get('stat') ?? []).join('\n')).filter((b) => b.backend === NODE_PROXY_BACKEND);
  return {
    ...base,
    active,
    backendsUp: servers.length ? servers.filter((b) => b.status.startsWith('UP')).length : null,
    backendsTotal: servers.length ? servers.length : null,
  };
}

/** Read-only: each node's proxy state and backends, all nodes in parallel. */
export async function nodeProxyStatus(run: RunContext, s: HaSettings): Promise<NodeProxyStatus[]> {
  return Promise.all(
    s.nodes.map(async (n): Promise<NodeProxyStatus> => {
      const base = { name: n, address: s.hosts[n]?.address ?? run.host(n).connection.address, proxy: s.nodeProxy };
      try {
        const conn = await run.connector.get(run.host(n));
        const r = await conn.exec({ script: nodeStatusScript(s.nodeProxy) }, { become: true, timeoutMs: 15_000 });
        return parseNodeStatus(r.stdout, base);
      } catch (err) {
        return { ...base, active: 'unreachable', backendsUp: null, backendsTotal: null, error: describeError(err) };
      }
    }),
  );
}

/**
 * What makes the node side unhealthy for `kha status` (exit 6), or undefined: a node whose proxy is
 * not running, or that reaches no master through it. Fewer masters than all is degraded, not down
 * (the table shows it); an unreachable node is left to the unreachable exit code; with `bootstrap`
 * (no load balancer counts an apiserver up) a node reaching no master is expected. Pure.
 */
export function nodeProxyProblem(rows: NodeProxyStatus[], o: { bootstrap?: boolean } = {}): string | undefined {
  const down = rows
    .filter((r) => r.active !== 'unreachable')
    .flatMap((r) =>
      r.active !== 'active'
        ? [`${r.name} (${r.proxy} ${r.active})`]
        : // before kubeadm init no master answers anywhere: a node reaching none is expected then
          r.backendsUp === 0 && !o.bootstrap
          ? [`${r.name} (0/${r.backendsTotal ?? '?'} masters up)`]
          : [],
    );
  return down.length ? `no path to an apiserver through the node-local proxy on ${down.join(', ')}` : undefined;
}

/** The human table of nodeProxyStatus. Pure. */
export function renderNodeProxyTable(rows: NodeProxyStatus[]): string {
  const head = ['NODE', 'ADDRESS', 'PROXY', 'STATE', 'BACKENDS'];
  const body = rows.map((r) => [
    r.name,
    r.address,
    r.proxy,
    r.active,
    r.backendsTotal === null
      ? '-'
      : r.backendsUp === null
        ? `?/${r.backendsTotal}`
        : `${r.backendsUp}/${r.backendsTotal}${r.proxy === 'nginx' ? ' (tcp probe from the node)' : ''}`,
  ]);
  const w = head.map((_, i) => Math.max(head[i]!.length, ...body.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const lines = [fmt(head), ...body.map(fmt)];
  for (const r of rows) if (r.error) lines.push(`${r.name}: ${r.error}`);
  return `${lines.join('\n')}\n`;
}
