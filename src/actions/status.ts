// kha status: who holds the VIP, what keepalived itself says, services, backends, drift; and
// each node's node-local proxy with its backends. Read-only: one facts command plus one status
// command per host, all hosts in parallel. The tables are rendered here too (pure).
import type { RunContext } from '../engine/context.js';
import { ExitCode, TransportError, describeError, type ErrorCode } from '../errors.js';
import { markedSections } from '../facts/sections.js';
import type { HaSettings } from '../inventory/settings.js';
import { sha256 } from '../modules/template.js';
import { keyedHash, keyedHashScript } from '../modules/secret-file.js';
import { quote } from '../transport/quote.js';
import { MANAGED_HEADER, NOTIFY_STATE_FILE, parseNotifyState } from '../roles/files.js';
import { HAPROXY_BACKEND } from '../roles/haproxy.js';
import { HAPROXY_CFG, KEEPALIVED_CONF, STATS_SOCKET, desiredFiles, featuresOn } from '../roles/ha.js';
import { preflightChecks, type PreflightResult } from './preflight.js';
import { haproxyStatScript, parseHaproxyStat } from './probes.js';
import { drainedServers, runtimeScript } from '../facts/haproxy.js';
import { NGINX_CONF, NODE_PROXY_BACKEND, countNginxServers } from '../roles/node-proxy.js';
import { BOOTSTRAP_LINE, checkCertSans } from './bootstrap.js';
import { alignColumns } from '../report/table.js';

export interface HostStatus {
  name: string;
  address: string;
  /** the jump hosts kha reached it through (`b1`, `b1 > b2`) */
  via?: string;
  reachable: boolean;
  error?: string;
  vrrpState: string;
  holdsVip: boolean;
  keepalived: { active: string; version: string | null };
  haproxy: { active: string; version: string | null };
  backendsUp: number | null;
  backendsTotal: number | null;
  backendsDown: string[];
  /** servers drained on the stats socket (kha drain): no new connection goes to them ([] when none) */
  backendsDrained?: string[];
  /** managed files whose content differs from what the inventory renders */
  drift: string[];
  /**
   * kha manages this host: keepalived.conf or haproxy.cfg carries kha's header, or keepalived or
   * haproxy runs. false after kha reset (or before kha up).
   */
  managed?: boolean;
}

export interface StatusReport {
  vip: string;
  frontendPort: number;
  holders: string[];
  healthy: boolean;
  problem?: string;
  /**
   * No holder was seen, and not every load-balancer host was (unreachable, or left out by
   * --limit): `VIP holder unknown: m2, m3 unreachable`. Never "no host holds the VIP" then.
   */
  holderUnknown?: string;
  /** the load-balancer hosts that could not be asked, each with why */
  unreachable?: Array<{ host: string; reason: string }>;
  /** the load-balancer hosts --limit left out */
  notAsked?: string[];
  /** no load balancer's haproxy counts an apiserver up: before kubeadm init (or a full outage) */
  bootstrap: boolean;
  /**
   * false: no reachable load-balancer host is managed by kha (no kha config, keepalived and haproxy
   * not running: after kha reset). Not a problem: `kha status` exits 0 and says so.
   */
  managed?: boolean;
  /** serving certificates (read through the VIP and from each master up) that miss a certSANs entry */
  certProblems: string[];
  /** why the certificates were not read (openssl missing on the holder) */
  certNote?: string;
  hosts: HostStatus[];
}

const MARK = '@@kha-status@@';

/**
 * `files`: the managed files to check for drift, each printed as `<hash>  <path>` or `- <path>`;
 * a secret-bearing file (redact) by its keyed hash (src/modules/secret-file.ts), never a plain one.
 */
export function statusScript(files: Array<{ path: string; redact?: readonly string[] }>): string {
  const one = (f: { path: string; redact?: readonly string[] }) => {
    const q = quote(f.path);
    const hash = f.redact ? `h=$(${keyedHashScript(f.path)}); echo "\${h%% *}  "${q}` : `sha256sum -- ${q}`;
    return `if [ -f ${q} ]; then ${hash}; else echo "- "${q}; fi`;
  };
  return [
    `echo ${MARK}state; cat ${quote(NOTIFY_STATE_FILE)} 2>/dev/null`,
    `echo ${MARK}stat; ${haproxyStatScript(STATS_SOCKET)} 2>/dev/null`,
    `echo ${MARK}servers; ${runtimeScript(STATS_SOCKET, [`show servers state ${HAPROXY_BACKEND}`])} 2>/dev/null`,
    `echo ${MARK}files`,
    ...files.map(one),
    `echo ${MARK}mine; grep -lsxF -- ${quote(MANAGED_HEADER)} ${quote(KEEPALIVED_CONF)} ${quote(HAPROXY_CFG)}`,
    `echo ${MARK}end`,
  ].join('\n');
}

/** The words for hosts kha does not manage (kha status, after kha reset). Pure. */
export function nothingManagedLine(hosts: readonly string[]): string {
  return `nothing managed by kha on ${hosts.join(', ')}: no kha config, keepalived and haproxy not running (kha up sets it up)`;
}

function split(out: string): Map<string, string> {
  return new Map([...markedSections(out, MARK)].map(([name, lines]) => [name, lines.join('\n')]));
}

/** What `kha status` looks at: every load-balancer host, or those --limit keeps. */
export interface StatusOptions {
  /** the hosts to ask (--limit); the others are named as not asked, never guessed about */
  only?: ReadonlySet<string>;
}

export async function status(run: RunContext, s: HaSettings, o: StatusOptions = {}): Promise<StatusReport> {
  const asked = s.lbHosts.filter((h) => !o.only || o.only.has(h));
  const notAsked = s.lbHosts.filter((h) => !asked.includes(h));
  const why = await gatherStatusFacts(run, asked);
  const facts = Object.fromEntries(asked.filter((h) => run.facts.has(h)).map((h) => [h, run.facts.get(h)!]));
  const pf = preflightChecks(s, facts);
  const rows = await Promise.all(asked.map((h) => hostStatus(run, s, pf, h, why.get(h))));
  const verdict = vipVerdict(s, rows, notAsked);
  const counted = rows.filter((r) => r.backendsTotal !== null);
  const bootstrap = counted.length > 0 && counted.every((r) => r.backendsUp === 0);
  const certs = await certCheck(run, s, rows, verdict.holders);
  return {
    vip: s.vip,
    frontendPort: s.frontendPort,
    ...verdict,
    bootstrap,
    certProblems: certs.problems,
    ...(certs.note ? { certNote: certs.note } : {}),
    hosts: rows,
  };
}

/** Connect and gather facts on every host at once; why each one that failed could not be asked (a refused key, a bastion that failed). */
async function gatherStatusFacts(run: RunContext, hosts: string[]): Promise<Map<string, string>> {
  const gathered = await Promise.allSettled(hosts.map((h) => run.facts0(h, true)));
  const why = new Map<string, string>();
  gathered.forEach((g, i) => {
    if (g.status === 'rejected') why.set(hosts[i]!, describeError(g.reason));
  });
  return why;
}

/** One host's row: from its facts, then one status command (VRRP state, backends, drift, kha's own files). */
async function hostStatus(run: RunContext, s: HaSettings, pf: PreflightResult, h: string, why: string | undefined): Promise<HostStatus> {
  const f = run.facts.get(h);
  const row: HostStatus = {
    name: h,
    address: pf.net[h]?.address ?? s.hosts[h]!.address,
    reachable: Boolean(f),
    vrrpState: 'UNKNOWN',
    holdsVip: pf.holders.includes(h),
    keepalived: { active: f?.services.keepalived?.active ?? 'unknown', version: f?.packages.keepalived ?? null },
    haproxy: { active: f?.services.haproxy?.active ?? 'unknown', version: f?.packages.haproxy ?? null },
    backendsUp: null,
    backendsTotal: null,
    backendsDown: [],
    backendsDrained: [],
    drift: [],
  };
  if (!f) return unreachableRow(row, why ?? 'unreachable');
  try {
    const want = pf.net[h] ? desiredFiles(s, pf.net, h, featuresOn(s, f)).filter((x) => x.path === KEEPALIVED_CONF || x.path === HAPROXY_CFG) : [];
    const conn = await run.connector.get(run.host(h));
    if (conn.via !== undefined) row.via = conn.via;
    const r = await conn.exec({ script: statusScript(want) }, { become: true, timeoutMs: 15_000 });
    readStatusOutput(row, r.stdout, want);
  } catch (err) {
    // lost between the facts and the status command: as unreachable as a host never reached
    if (err instanceof TransportError) return unreachableRow(row, describeError(err));
    row.error = describeError(err);
  }
  return row;
}

function unreachableRow(row: HostStatus, why: string): HostStatus {
  return { ...row, reachable: false, vrrpState: 'UNREACHABLE', error: why };
}

/** The status command's answer into the row: VRRP state, haproxy's backends, whether kha manages the host, drift. */
function readStatusOutput(row: HostStatus, stdout: string, want: Array<{ path: string; content: string; redact?: readonly string[] }>): void {
  const sec = split(stdout);
  const st = parseNotifyState(sec.get('state') ?? '');
  row.vrrpState = row.keepalived.active !== 'active' ? 'STOPPED' : (st?.state ?? 'UNKNOWN');
  const servers = parseHaproxyStat(sec.get('stat') ?? '').filter((b) => b.backend === HAPROXY_BACKEND);
  if (servers.length) {
    const drained = drainedServers(sec.get('servers') ?? '', HAPROXY_BACKEND);
    row.backendsTotal = servers.length;
    row.backendsUp = servers.filter((b) => b.status.startsWith('UP')).length;
    row.backendsDown = servers.filter((b) => !b.status.startsWith('UP') && !b.status.startsWith('DRAIN')).map((b) => b.server);
    row.backendsDrained = servers.filter((b) => drained.includes(b.server) || b.status.startsWith('DRAIN')).map((b) => b.server);
  }
  const hashes = new Map<string, string | null>();
  for (const l of (sec.get('files') ?? '').split('\n')) {
    if (l.startsWith('- ')) hashes.set(l.slice(2), null);
    const m = /^([0-9a-f]{64})\s+(.+)$/.exec(l);
    if (m) hashes.set(m[2]!, m[1]!);
  }
  const mine = (sec.get('mine') ?? '').split('\n').filter((l) => l.trim());
  row.managed = mine.length > 0 || row.keepalived.active === 'active' || row.haproxy.active === 'active';
  if (!row.managed) row.vrrpState = 'NOT MANAGED';
  // drift is kha's own files against the inventory: nothing to compare where kha manages nothing
  else for (const w of want) if (hashes.get(w.path) !== (w.redact ? keyedHash(w.content) : sha256(w.content))) row.drift.push(w.path);
}

/**
 * Who holds the VIP, and what is wrong with that. "No host holds the VIP" is said only when every
 * load-balancer host was seen: with one unreachable (or left out by --limit) the holder may be
 * the host kha could not see, so the holder is unknown, never "none". Pure.
 */
export function vipVerdict(
  s: Pick<HaSettings, 'vip'>,
  rows: HostStatus[],
  notAsked: string[] = [],
): Pick<StatusReport, 'holders' | 'healthy' | 'problem' | 'managed' | 'holderUnknown' | 'unreachable' | 'notAsked'> {
  const holders = rows.filter((r) => r.holdsVip).map((r) => r.name);
  const unreachable = rows.filter((r) => !r.reachable).map((r) => ({ host: r.name, reason: r.error ?? 'unreachable' }));
  const reached = rows.filter((r) => r.reachable && !r.error);
  const managed = !(holders.length === 0 && reached.length > 0 && reached.every((r) => r.managed === false));
  const unseen = [
    ...(unreachable.length ? [`${unreachable.map((u) => u.host).join(', ')} unreachable`] : []),
    ...(notAsked.length ? [`${notAsked.join(', ')} not asked (--limit)`] : []),
  ];
  const holderUnknown = holders.length === 0 && unseen.length > 0 ? `VIP holder unknown: ${unseen.join('; ')}` : undefined;
  const problem = !managed
    ? undefined
    : holders.length > 1
      ? `split brain: ${holders.join(' and ')} all hold the VIP ${s.vip}`
      : holders.length === 0 && !holderUnknown
        ? `no host holds the VIP ${s.vip}`
        : undefined;
  return {
    holders,
    healthy: managed && !problem && !holderUnknown,
    ...(problem ? { problem } : {}),
    ...(holderUnknown ? { holderUnknown } : {}),
    managed,
    unreachable,
    ...(notAsked.length ? { notAsked } : {}),
  };
}

/** The serving certificates' SANs, read on the one holder once an apiserver answers there. */
async function certCheck(run: RunContext, s: HaSettings, rows: HostStatus[], holders: string[]): Promise<{ problems: string[]; note?: string }> {
  const holderRow = holders.length === 1 ? rows.find((r) => r.name === holders[0]) : undefined;
  if (!holderRow?.backendsUp) return { problems: [] };
  try {
    const upNames = s.masters.filter((m) => !holderRow.backendsDown.includes(m));
    return await checkCertSans(await run.connector.get(run.host(holderRow.name)), s, upNames);
  } catch (err) {
    return { problems: [], note: `the apiserver certificates' SANs were not checked: ${describeError(err)}` };
  }
}

/** `m2: why`, once: transport errors already start with the host's name. */
export function hostLine(host: string, text: string): string {
  return text.startsWith(`${host}: `) ? text : `${host}: ${text}`;
}

/** `2/3 (down: m3; DRAIN: m2)`: up/total, then the servers down and those drained (kha drain). Pure. */
export function backendsCell(up: number, total: number, down: readonly string[], drained: readonly string[] = []): string {
  const notes = [...(down.length ? [`down: ${down.join(',')}`] : []), ...(drained.length ? [`DRAIN: ${drained.join(',')}`] : [])];
  return `${up}/${total}${notes.length ? ` (${notes.join('; ')})` : ''}`;
}

/** The human table. Pure. */
export function renderStatusTable(r: StatusReport): string {
  const head = ['HOST', 'ADDRESS', 'VRRP', 'VIP', 'KEEPALIVED', 'HAPROXY', 'BACKENDS', 'DRIFT'];
  const rows = r.hosts.map((h) => [
    h.name,
    h.via ? `${h.address} via ${h.via}` : h.address,
    h.vrrpState,
    h.holdsVip ? 'yes' : '-',
    h.reachable ? `${h.keepalived.active} ${h.keepalived.version ?? '(not installed)'}` : '-',
    h.reachable ? `${h.haproxy.active} ${h.haproxy.version ?? '(not installed)'}` : '-',
    h.backendsTotal === null ? '-' : backendsCell(h.backendsUp ?? 0, h.backendsTotal, h.backendsDown, h.backendsDrained),
    h.drift.length ? h.drift.map((p) => p.split('/').pop()).join(',') : h.reachable ? 'none' : '-',
  ]);
  const lines = [
    `VIP ${r.vip}:${r.frontendPort}  holder: ${r.holders.join(', ') || (r.holderUnknown ? r.holderUnknown.replace(/^VIP holder /, '') : 'none')}${r.problem ? `  PROBLEM: ${r.problem}` : ''}`,
    ...alignColumns(head, rows),
  ];
  for (const h of r.hosts) if (h.error && h.error !== 'unreachable') lines.push(hostLine(h.name, h.error));
  if (r.managed === false) lines.push(nothingManagedLine(r.hosts.filter((h) => h.managed === false).map((h) => h.name)));
  if (r.bootstrap) lines.push(`${BOOTSTRAP_LINE} (expected before kubeadm init; the VIP stays where it is and reaches the first apiserver that starts)`);
  for (const p of r.certProblems) lines.push(`warning: ${p}`);
  if (r.certNote) lines.push(r.certNote);
  return `${lines.join('\n')}\n`;
}

// ---- the node-local proxies (kha status, below the load balancers' table) --------------------

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
  /** haproxy: servers drained on its stats socket (kha drain); nginx has none */
  backendsDrained?: string[];
  error?: string;
  /** kha manages this node's proxy: its config carries kha's header, or the proxy runs (false after kha reset) */
  managed?: boolean;
}

/** kha status's result (--json): the load balancers' report and, with node-local proxies, the nodes' */
export type StatusResult = StatusReport & { nodes: NodeProxyStatus[] };

const NODE_MARK = '@@kha-node@@';

export function nodeStatusScript(proxy: 'haproxy' | 'nginx'): string {
  return [
    `echo ${NODE_MARK}active; systemctl is-active ${proxy}.service`,
    `echo ${NODE_MARK}mine; grep -qsxF -- ${quote(MANAGED_HEADER)} ${quote(proxy === 'nginx' ? NGINX_CONF : HAPROXY_CFG)} && echo yes`,
    ...(proxy === 'haproxy'
      ? [
          `echo ${NODE_MARK}stat; ${haproxyStatScript(STATS_SOCKET)} 2>/dev/null`,
          `echo ${NODE_MARK}servers; ${runtimeScript(STATS_SOCKET, [`show servers state ${NODE_PROXY_BACKEND}`])} 2>/dev/null`,
        ]
      : [`echo ${NODE_MARK}conf; cat ${quote(NGINX_CONF)} 2>/dev/null`, `echo ${NODE_MARK}probe`, nginxProbeScript()]),
    `echo ${NODE_MARK}end`,
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
  const sec = markedSections(out, NODE_MARK);
  const active = (sec.get('active') ?? []).join('').trim() || 'unknown';
  // scripts without the section (older callers) count as managed
  const mine = sec.get('mine');
  const managed = mine === undefined || mine.some((l) => l.trim() === 'yes') || active === 'active';
  if (base.proxy === 'nginx') {
    const conf = (sec.get('conf') ?? []).join('\n');
    const probed = (sec.get('probe') ?? []).map((l) => l.trim().split(' ')[0]).filter((w) => w === 'up' || w === 'down');
    return {
      ...base,
      active,
      backendsUp: probed.length ? probed.filter((w) => w === 'up').length : null,
      backendsTotal: conf.trim() ? countNginxServers(conf) : null,
      managed,
    };
  }
  const servers = parseHaproxyStat((sec.get('stat') ?? []).join('\n')).filter((b) => b.backend === NODE_PROXY_BACKEND);
  const drained = drainedServers((sec.get('servers') ?? []).join('\n'), NODE_PROXY_BACKEND);
  return {
    ...base,
    active,
    backendsUp: servers.length ? servers.filter((b) => b.status.startsWith('UP')).length : null,
    backendsTotal: servers.length ? servers.length : null,
    ...(drained.length ? { backendsDrained: drained } : {}),
    managed,
  };
}

/** Read-only: each node's proxy state and backends, all nodes (or those --limit keeps) in parallel. */
export async function nodeProxyStatus(run: RunContext, s: HaSettings, o: StatusOptions = {}): Promise<NodeProxyStatus[]> {
  return Promise.all(
    s.nodes
      .filter((n) => !o.only || o.only.has(n))
      .map(async (n): Promise<NodeProxyStatus> => {
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
export function nodeProxyProblem(rows: NodeProxyStatus[], o: { bootstrap?: boolean; unmanagedOk?: boolean } = {}): string | undefined {
  const down = nodeProxyDown(rows, o).map((r) =>
    r.active !== 'active' ? `${r.name} (${r.proxy} ${r.active})` : `${r.name} (0/${r.backendsTotal ?? '?'} masters up)`,
  );
  return down.length ? `no path to an apiserver through the node-local proxy on ${down.join(', ')}` : undefined;
}

/**
 * How `kha status` ends: the `error:` lines for stderr and the exit code. 6 for a problem (no
 * holder, split brain, a node without a path to an apiserver); else 3 when a host or node could
 * not be asked, in one line naming them (`VIP holder unknown: m2, m3 unreachable` when the holder
 * may be among them); the reasons are in the table and in --json. Pure.
 */
export function statusOutcome(r: StatusReport, nodes: NodeProxyStatus[]): { errors: string[]; exit: number } {
  if (r.hosts.length > 0 && r.hosts.every((h) => !h.reachable)) {
    return { errors: [`no host is reachable (${r.hosts.map((h) => hostLine(h.name, h.error ?? 'unreachable')).join('; ')})`], exit: ExitCode.unreachable };
  }
  // after kha reset nothing is kha's: not a problem (exit 0, the table says so)
  const problems = [r.problem, nodeProxyProblem(nodes, { bootstrap: r.bootstrap, unmanagedOk: r.managed === false })].filter(
    (p): p is string => p !== undefined,
  );
  const lbDown = r.hosts.filter((h) => !h.reachable).map((h) => h.name);
  const nodesDown = nodes.filter((n) => n.active === 'unreachable').map((n) => n.name);
  const down =
    r.holderUnknown && lbDown.length
      ? [`${r.holderUnknown}${nodesDown.length ? `; ${nodesDown.join(', ')} unreachable` : ''}`]
      : lbDown.length + nodesDown.length
        ? [`${[...lbDown, ...nodesDown].join(', ')} unreachable`]
        : [];
  return { errors: [...problems, ...down], exit: problems.length ? ExitCode.unhealthy : down.length ? ExitCode.unreachable : ExitCode.ok };
}

/** The nodes nodeProxyProblem names: a proxy not active, or (after bootstrap) reaching no master. Pure. */
export function nodeProxyDown(rows: NodeProxyStatus[], o: { bootstrap?: boolean; unmanagedOk?: boolean } = {}): NodeProxyStatus[] {
  return rows.filter(
    (r) =>
      r.active !== 'unreachable' &&
      !(o.unmanagedOk && r.managed === false) &&
      // before kubeadm init no master answers anywhere: a node reaching none is expected then
      (r.active !== 'active' || (r.backendsUp === 0 && !o.bootstrap)),
  );
}

/** The human table of nodeProxyStatus. Pure. */
export function renderNodeProxyTable(rows: NodeProxyStatus[]): string {
  const head = ['NODE', 'ADDRESS', 'PROXY', 'STATE', 'BACKENDS'];
  const body = rows.map((r) => [
    r.name,
    r.address,
    r.proxy,
    r.managed === false ? `not managed (${r.active})` : r.active,
    r.backendsTotal === null
      ? '-'
      : r.backendsUp === null
        ? `?/${r.backendsTotal}`
        : r.proxy === 'nginx'
          ? `${r.backendsUp}/${r.backendsTotal} (tcp probe from the node)`
          : backendsCell(r.backendsUp, r.backendsTotal, [], r.backendsDrained),
  ]);
  const lines = alignColumns(head, body);
  for (const r of rows) if (r.error) lines.push(hostLine(r.name, r.error));
  const unmanaged = rows.filter((r) => r.managed === false);
  if (unmanaged.length && unmanaged.length === rows.length)
    lines.push(`nothing managed by kha on ${unmanaged.map((r) => r.name).join(', ')}: no kha proxy config, the proxy not running`);
  return `${lines.join('\n')}\n`;
}

/**
 * The --json error of one status report: the `error:` lines and the exit code are statusOutcome's
 * (above); this names the code and the hosts. 6: E_SPLIT_BRAIN, E_NO_HOLDER or
 * E_NODE_PROXY (the nodes whose proxy is down); 3: E_UNREACHABLE with each host's reason. Pure.
 */
export function statusJsonOutcome(r: StatusResult): { exit: number; error?: { code: ErrorCode; message: string; hosts: string[] }; lines: string[] } {
  const o = statusOutcome(r, r.nodes);
  const lines = o.errors;
  if (o.exit === 0) return { exit: 0, lines };
  const lost = r.hosts.filter((h) => !h.reachable);
  const nodesLost = r.nodes.filter((n) => n.active === 'unreachable');
  if (o.exit === ExitCode.unhealthy) {
    const nodeOpts = { bootstrap: r.bootstrap, unmanagedOk: r.managed === false };
    const nodeProblem = nodeProxyProblem(r.nodes, nodeOpts);
    const code: ErrorCode = r.problem ? (r.holders.length > 1 ? 'E_SPLIT_BRAIN' : 'E_NO_HOLDER') : 'E_NODE_PROXY';
    const hosts = [...(r.problem && r.holders.length > 1 ? r.holders : []), ...(nodeProblem ? nodeProxyDown(r.nodes, nodeOpts).map((n) => n.name) : [])];
    return { exit: o.exit, error: { code, message: lines.join('; '), hosts }, lines };
  }
  const why = [...lost.map((h) => hostLine(h.name, h.error ?? 'unreachable')), ...nodesLost.map((n) => hostLine(n.name, n.error ?? 'unreachable'))];
  const message = why.length ? `${lines.join('; ')} (${why.join('; ')})` : lines.join('; ');
  return { exit: o.exit, error: { code: 'E_UNREACHABLE', message, hosts: [...lost, ...nodesLost].map((h) => h.name) }, lines };
}
