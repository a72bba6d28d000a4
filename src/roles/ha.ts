// The HA role: from typed settings + each host's network facts to the files a load-balancer
// host must have, and the tasks and handlers that put them there. Pure except for the task
// objects it returns (which the engine runs). Shared by up, upgrade, status (drift) and drill.
import type { Handler, HostContext, Task } from '../engine/types.js';
import type { HaSettings } from '../inventory/settings.js';
import { appliedModule, commandModule, fileModule, packageModule, serviceModule, templateModule } from '../modules/index.js';
import type { TemplateParams } from '../modules/template.js';
import type { VrrpPlace } from '../net/host-net.js';
import {
  CHECK_APISERVER_SCRIPT_PATH,
  CHECK_HAPROXY_SCRIPT_PATH,
  DEFAULT_MONITOR_PORT,
  DEFAULT_SCRIPT_USER,
  HAPROXY_DROPIN_DIR,
  HAPROXY_DROPIN_PATH,
  HAPROXY_TMPFILES_PATH,
  HAPROXY_VALIDATE_ARGV,
  INSTALLED_RECORD,
  KEEPALIVED_DIR,
  KEEPALIVED_VALIDATE_ARGV,
  KHA_STATE_DIR,
  NOTIFY_SCRIPT_PATH,
  NOTIFY_FIFO,
  NOTIFY_STATE_FILE,
  HAPROXY_DOWN_FILE,
  SERVER_STATE_SCRIPT_PATH,
  USERS_RECORD,
  renderCheckApiserverScript,
  renderCheckHaproxyScript,
  renderHaproxyDropIn,
  renderHaproxyTmpfiles,
  renderNotifyScript,
} from './files.js';
import { renderHaproxy, type HaproxyVars } from './haproxy.js';
import { renderKeepalived, type KeepalivedVars } from './keepalived.js';
import { renderServerStateScript } from './server-state.js';
import {
  METRICS_SCRIPT_PATH,
  METRICS_SERVER_PATH,
  METRICS_SERVICE_PATH,
  METRICS_SOCKET_PATH,
  METRICS_SOCKET_UNIT,
  VRRP_COUNT_NFT_PATH,
  VRRP_COUNT_UNIT,
  VRRP_COUNT_UNIT_PATH,
  renderMetricsScript,
  renderMetricsServer,
  renderMetricsService,
  renderMetricsSocket,
  renderVrrpCountNft,
  renderVrrpCountUnit,
} from './metrics.js';
import { HAPROXY_BACKEND } from './haproxy.js';
import type { Facts } from '../facts/types.js';
import { ALL_FEATURES, featuresOf, hostVersions, type Features, type HostVersions } from '../facts/versions.js';
import { quote, quoteArgv } from '../transport/quote.js';

export const KEEPALIVED_CONF = '/etc/keepalived/keepalived.conf';
/** keywords of keepalived.conf whose values are secrets */
export const KEEPALIVED_SECRET_KEYS: readonly string[] = ['auth_pass'];
export const HAPROXY_CFG = '/etc/haproxy/haproxy.cfg';
export const STATS_SOCKET = '/run/haproxy/admin.sock';

export const H_RELOAD_HAPROXY = 'reload haproxy';
export const H_RESTART_HAPROXY = 'restart haproxy';
export const H_RESTART_KEEPALIVED = 'restart keepalived';
export const H_RESTART_METRICS = 'restart kha-metrics.socket';
export const H_RESTART_VRRP_COUNT = 'restart kha-vrrp-count';

/** The host's keepalived and haproxy versions (installed, pinned, or what the install will bring). */
export function versionsOn(s: HaSettings, facts: Pick<Facts, 'os' | 'packages' | 'candidates'>): HostVersions {
  return hostVersions(facts, { keepalived: s.keepalivedVersion, haproxy: s.haproxyVersion });
}

/** The version-dependent keywords the host's configs may carry. */
export function featuresOn(s: HaSettings, facts: Pick<Facts, 'os' | 'packages' | 'candidates'> | undefined): Features {
  return facts ? featuresOf(versionsOn(s, facts)) : { ...ALL_FEATURES };
}

export function keepalivedVars(s: HaSettings, net: Record<string, VrrpPlace>, host: string, features: Features = ALL_FEATURES): KeepalivedVars {
  const n = net[host];
  const hs = s.hosts[host];
  if (!n || !hs) throw new Error(`no network facts for ${host}`);
  const prios = s.lbHosts.map((h) => s.hosts[h]?.priority ?? 0);
  return {
    routerId: `kha-${host}`,
    instanceName: 'VI_KHA',
    state: host === s.primary ? 'MASTER' : 'BACKUP',
    nopreempt: s.nopreempt,
    interface: n.iface,
    virtualRouterId: s.virtualRouterId,
    priority: hs.priority,
    priorityGap: Math.max(...prios) - Math.min(...prios),
    advertInt: s.advertInt,
    ...(s.authPass ? { authPass: s.authPass } : {}),
    vip: s.vip,
    vipPrefix: s.vipPrefix,
    ...(s.unicast ? { unicast: { srcIp: n.address, peers: s.lbHosts.filter((h) => h !== host).map((h) => net[h]?.address ?? s.hosts[h]!.address) } } : {}),
    checkScript: CHECK_HAPROXY_SCRIPT_PATH,
    scriptUser: DEFAULT_SCRIPT_USER,
    ...(s.trackApiserver ? { trackApiserver: { script: CHECK_APISERVER_SCRIPT_PATH } } : {}),
    notifyScript: NOTIFY_SCRIPT_PATH,
    notifyFifo: NOTIFY_FIFO,
    haproxyDownFile: HAPROXY_DOWN_FILE,
    garpMasterRefresh: 60,
    unicastFaultNoPeer: features.unicastFaultNoPeer,
  };
}

export function haproxyVars(s: HaSettings, host: string, features: Features = ALL_FEATURES): HaproxyVars {
  const h = s.hosts[host];
  return {
    ...(s.metrics && h ? { metrics: { bind: h.metricsBind, port: s.metricsPort } } : {}),
    frontendPort: s.frontendPort,
    bindAddress: '0.0.0.0',
    backends: s.masters.map((m) => ({ name: m, address: s.hosts[m]!.address, port: s.hosts[m]!.apiserverPort })),
    algorithm: s.lbAlgorithm,
    healthPath: s.apiserverHealthPath,
    // in TCP mode `timeout tunnel` governs an established connection: it follows the client timeout
    timeouts: { ...s.timeouts, tunnel: s.timeouts.client },
    monitorPort: DEFAULT_MONITOR_PORT,
    statsSocket: STATS_SOCKET,
    hardStopAfter: s.hardStopAfter,
    tcpKeepaliveTimers: features.tcpKeepaliveTimers,
  };
}

/** The drop-in's reload step that keeps drained servers drained (load balancers and haproxy nodes alike). */
export function serverStateScriptFile(): TemplateParams {
  return {
    path: SERVER_STATE_SCRIPT_PATH,
    content: renderServerStateScript({ statsSocket: STATS_SOCKET, config: HAPROXY_CFG }),
    mode: 0o755,
    owner: 'root',
    group: 'root',
  };
}

export interface ManagedFile extends TemplateParams {
  notify?: string[];
}

/**
 * Every file kha manages on a load-balancer host, rendered: settings + each host's place on the
 * VRRP network -> files. The one function kha up (configure, plan), kha status (drift) and kha
 * render (offline) all use; a host missing from `net` falls back to its inventory address for
 * unicast peers. `features`: what the host's keepalived and haproxy versions accept (featuresOn).
 */
export function desiredFiles(s: HaSettings, net: Record<string, VrrpPlace>, host: string, features: Features = ALL_FEATURES): ManagedFile[] {
  const files: ManagedFile[] = [
    { path: CHECK_HAPROXY_SCRIPT_PATH, content: renderCheckHaproxyScript({ monitorPort: DEFAULT_MONITOR_PORT }), mode: 0o755, owner: 'root', group: 'root' },
    // keepalived runs the notify script for as long as it runs (the FIFO's reader): a new one needs a restart
    { path: NOTIFY_SCRIPT_PATH, content: renderNotifyScript(), mode: 0o755, owner: 'root', group: 'root', notify: [H_RESTART_KEEPALIVED] },
    {
      path: HAPROXY_DROPIN_PATH,
      content: renderHaproxyDropIn({ downFile: HAPROXY_DOWN_FILE }),
      mode: 0o644,
      owner: 'root',
      group: 'root',
      notify: [H_RESTART_HAPROXY],
    },
    { path: HAPROXY_TMPFILES_PATH, content: renderHaproxyTmpfiles(), mode: 0o644, owner: 'root', group: 'root' },
    serverStateScriptFile(),
    {
      path: HAPROXY_CFG,
      content: renderHaproxy(haproxyVars(s, host, features)),
      mode: 0o644,
      owner: 'root',
      group: 'root',
      validate: [...HAPROXY_VALIDATE_ARGV],
      notify: [H_RELOAD_HAPROXY],
    },
    {
      path: KEEPALIVED_CONF,
      content: renderKeepalived(keepalivedVars(s, net, host, features)),
      mode: 0o600,
      owner: 'root',
      group: 'root',
      validate: [...KEEPALIVED_VALIDATE_ARGV],
      notify: [H_RESTART_KEEPALIVED],
      // vrrp_auth_pass: compared by keyed hash, diffed with the value redacted on the host
      redact: [...KEEPALIVED_SECRET_KEYS],
    },
  ];
  if (s.metrics) files.push(...metricsFiles(s, net, host));
  if (s.trackApiserver) {
    files.splice(1, 0, {
      path: CHECK_APISERVER_SCRIPT_PATH,
      content: renderCheckApiserverScript({ apiserverPort: s.hosts[host]?.apiserverPort ?? s.apiserverPort, healthPath: s.apiserverHealthPath }),
      mode: 0o755,
      owner: 'root',
      group: 'root',
    });
  }
  return files;
}

/** kha's VRRP exporter script for this cluster (kha-metrics.socket runs it; so does `kha status -o prometheus`). */
export function metricsScript(s: HaSettings): string {
  return renderMetricsScript({
    vip: s.vip,
    virtualRouterId: s.virtualRouterId,
    instance: 'VI_KHA',
    stateFile: NOTIFY_STATE_FILE,
    statsSocket: STATS_SOCKET,
    backend: HAPROXY_BACKEND,
  });
}

/** kha's VRRP exporter (collector script, socket-activated server) and the nftables counter of foreign adverts (metrics: true). */
function metricsFiles(s: HaSettings, net: Record<string, VrrpPlace>, host: string): ManagedFile[] {
  const own = { mode: 0o644, owner: 'root', group: 'root' } as const;
  const h = s.hosts[host];
  return [
    {
      path: METRICS_SCRIPT_PATH,
      content: metricsScript(s),
      ...own,
      mode: 0o755,
    },
    // the server runs for as long as scrapes come: a new one needs a restart (the collector does not)
    { path: METRICS_SERVER_PATH, content: renderMetricsServer(), ...own, mode: 0o755, notify: [H_RESTART_METRICS] },
    { path: METRICS_SERVICE_PATH, content: renderMetricsService(), ...own, notify: [H_RESTART_METRICS] },
    {
      path: METRICS_SOCKET_PATH,
      content: renderMetricsSocket({ bind: h!.metricsBind, port: s.vrrpMetricsPort }),
      ...own,
      notify: [H_RESTART_METRICS],
    },
    {
      path: VRRP_COUNT_NFT_PATH,
      content: renderVrrpCountNft({ virtualRouterId: s.virtualRouterId, peers: s.lbHosts.map((x) => net[x]?.address ?? s.hosts[x]!.address) }),
      ...own,
      validate: ['nft', '-c', '-f', '%s'],
      notify: [H_RESTART_VRRP_COUNT],
    },
    { path: VRRP_COUNT_UNIT_PATH, content: renderVrrpCountUnit(), ...own, notify: [H_RESTART_VRRP_COUNT] },
  ];
}

export function installTasks(s: HaSettings): Task<any>[] {
  return [
    {
      module: packageModule,
      params: {
        // curl only for the optional apiserver check (track_apiserver)
        // nftables only for the metrics' count of foreign VRRP adverts
        names: ['keepalived', 'haproxy', ...(s.trackApiserver ? ['curl'] : []), ...(s.metrics ? ['nftables'] : [])],
        noStart: true,
        // what this install adds is what `kha reset --purge` removes
        record: INSTALLED_RECORD,
        ...(s.keepalivedVersion || s.haproxyVersion
          ? { versions: { ...(s.keepalivedVersion ? { keepalived: s.keepalivedVersion } : {}), ...(s.haproxyVersion ? { haproxy: s.haproxyVersion } : {}) } }
          : {}),
      },
    },
  ];
}

/** Create the check scripts' system user and record that kha created it (`kha reset --purge` removes it). */
export function createScriptUserScript(): string {
  const useradd = quoteArgv(['useradd', '--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', DEFAULT_SCRIPT_USER]);
  return `${useradd} && mkdir -p -- ${quote(KHA_STATE_DIR)} && echo ${quote(DEFAULT_SCRIPT_USER)} >> ${quote(USERS_RECORD)}`;
}

/** Configure: user for the check scripts, directories, every managed file (validated, atomic). */
export function configureTasks(s: HaSettings, net: Record<string, VrrpPlace>): Task<any>[] {
  return [
    {
      module: commandModule,
      params: {
        title: `user ${DEFAULT_SCRIPT_USER} for keepalived's check scripts`,
        cmd: { script: createScriptUserScript() },
        unless: { argv: ['id', '-u', DEFAULT_SCRIPT_USER] },
        why: 'no such user',
      },
    },
    { module: fileModule, params: { path: KEEPALIVED_DIR, state: 'directory', mode: 0o755, owner: 'root', group: 'root' } },
    { module: fileModule, params: { path: HAPROXY_DROPIN_DIR, state: 'directory', mode: 0o755, owner: 'root', group: 'root' } },
    ...desiredFilesTasks(s, net),
  ];
}

function desiredFilesTasks(s: HaSettings, net: Record<string, VrrpPlace>): Task<any>[] {
  // one task per file; params resolved per host
  const count = desiredFiles(s, net, s.lbHosts.find((h) => net[h]) ?? s.primary).length;
  const tasks: Task<any>[] = [];
  for (let i = 0; i < count; i++) {
    const sample = desiredFiles(s, net, s.lbHosts.find((h) => net[h]) ?? s.primary)[i]!;
    tasks.push({
      module: templateModule,
      params: (hc: HostContext) => {
        const f = desiredFiles(s, net, hc.host.name, featuresOn(s, hc.facts))[i]!;
        const { notify: _n, ...p } = f;
        return p;
      },
      ...(sample.notify ? { notify: sample.notify } : {}),
    });
  }
  return tasks;
}

/** Start (or keep running) haproxy then keepalived; a start makes a pending restart moot. */
export function startTasks(s: HaSettings): Task<any>[] {
  return [
    ...(s.metrics ? metricsStartTasks() : []),
    {
      module: serviceModule,
      params: { name: 'haproxy', state: 'started', enabled: true, daemonReload: true, record: [HAPROXY_CFG] },
      clears: [H_RELOAD_HAPROXY, H_RESTART_HAPROXY],
    },
    { module: serviceModule, params: { name: 'keepalived', state: 'started', enabled: true, record: [KEEPALIVED_CONF] }, clears: [H_RESTART_KEEPALIVED] },
    // a restart an earlier run did not get to (it failed or was interrupted after writing a config)
    { module: appliedModule, params: { unit: 'haproxy.service', files: [HAPROXY_CFG] }, notify: [H_RELOAD_HAPROXY] },
    { module: appliedModule, params: { unit: 'keepalived.service', files: [KEEPALIVED_CONF] }, notify: [H_RESTART_KEEPALIVED] },
  ];
}

/**
 * keepalived: 'restart' by default; 'reload' (SIGHUP: re-read the config, keep VRRP state) for
 * membership changes, where a restart of the holder would move the VIP. A restart interrupts the
 * host's service (the service module says so: kha upgrade hands the VIP over first); a haproxy reload does not
 * (master-worker: established connections stay, the listening sockets are handed over).
 */
/** The metrics units: the foreign-advert counter before keepalived, the exporter's socket. */
function metricsStartTasks(): Task<any>[] {
  return [
    { module: serviceModule, params: { name: VRRP_COUNT_UNIT, state: 'started', enabled: true, daemonReload: true }, clears: [H_RESTART_VRRP_COUNT] },
    { module: serviceModule, params: { name: METRICS_SOCKET_UNIT, state: 'started', enabled: true, daemonReload: true }, clears: [H_RESTART_METRICS] },
  ];
}

export function haHandlers(opts: { keepalived?: 'restart' | 'reload' } = {}): Handler<any>[] {
  const keepalivedReload = opts.keepalived === 'reload';
  return [
    { name: H_RESTART_VRRP_COUNT, module: serviceModule, params: { name: VRRP_COUNT_UNIT, state: 'restarted', daemonReload: true } },
    { name: H_RESTART_METRICS, module: serviceModule, params: { name: METRICS_SOCKET_UNIT, state: 'restarted', daemonReload: true } },
    {
      name: H_RESTART_HAPROXY,
      module: serviceModule,
      params: { name: 'haproxy', state: 'restarted', daemonReload: true, rollback: [HAPROXY_CFG], record: [HAPROXY_CFG] },
      // a restart reads the config too: the reload notified with it would only repeat it
      clears: [H_RELOAD_HAPROXY],
    },
    { name: H_RELOAD_HAPROXY, module: serviceModule, params: { name: 'haproxy', state: 'reloaded', rollback: [HAPROXY_CFG], record: [HAPROXY_CFG] } },
    {
      name: H_RESTART_KEEPALIVED,
      module: serviceModule,
      params: { name: 'keepalived', state: keepalivedReload ? 'reloaded' : 'restarted', rollback: [KEEPALIVED_CONF], record: [KEEPALIVED_CONF] },
    },
  ];
}
