// The nodes role: the node-local apiserver proxy (haproxy or nginx, renderers in
// roles/node-proxy.ts) and the kha block of /etc/hosts (roles/etc-hosts.ts): typed vars, the
// tasks that put them on a host and the handlers that restart or reload the proxy. The phases
// that run them are in actions/nodes.ts.
import type { Handler, HostContext, Task } from '../engine/types.js';
import type { HaSettings } from '../inventory/settings.js';
import { appliedModule, commandModule, fileModule, packageModule, serviceModule, templateModule } from '../modules/index.js';
import { blockInFileModule } from '../modules/blockinfile.js';
import { quote } from '../transport/quote.js';
import {
  HAPROXY_DROPIN_DIR,
  HAPROXY_DROPIN_PATH,
  HAPROXY_TMPFILES_PATH,
  HAPROXY_VALIDATE_ARGV,
  INSTALLED_RECORD,
  renderHaproxyDropIn,
  renderHaproxyTmpfiles,
} from './files.js';
import { H_RELOAD_HAPROXY, H_RESTART_HAPROXY, HAPROXY_CFG, STATS_SOCKET, featuresOn, serverStateScriptFile } from './ha.js';
import { ALL_FEATURES, type Features } from '../facts/versions.js';
import { etcHostsEntries, renderEtcHostsBlock } from './etc-hosts.js';
import {
  NGINX_CONF,
  NGINX_VALIDATE_ARGV,
  nginxModulesInclude,
  nginxPackages,
  renderNodeHaproxy,
  renderNodeNginx,
  type NodeHaproxyVars,
  type NodeNginxVars,
} from './node-proxy.js';

export const ETC_HOSTS = '/etc/hosts';
export const H_RELOAD_NGINX = 'reload nginx';
export const H_RESTART_NGINX = 'restart nginx';
/** a line only kha's node-proxy configs hold: tells our haproxy.cfg / nginx.conf from an operator's */
const NODE_PROXY_MARK = 'Node-local apiserver proxy';

// ---- vars -----------------------------------------------------------------------------------

/** the port a node's proxy listens on: its apiserver_port (the port kubelet's kubeconfig names) */
export function nodeListenPort(s: HaSettings, node: string): number {
  return s.hosts[node]?.apiserverPort ?? s.apiserverPort;
}

function backends(s: HaSettings) {
  return s.masters.map((m) => ({ name: m, address: s.hosts[m]!.address, port: s.hosts[m]!.apiserverPort }));
}

export function nodeHaproxyVars(s: HaSettings, node: string, features: Features = ALL_FEATURES): NodeHaproxyVars {
  return {
    listenPort: nodeListenPort(s, node),
    backends: backends(s),
    healthPath: s.apiserverHealthPath,
    timeouts: { connect: s.timeouts.connect, client: s.timeouts.client, server: s.timeouts.server, tunnel: s.timeouts.client },
    statsSocket: STATS_SOCKET,
    hardStopAfter: s.hardStopAfter,
    ...(s.metrics ? { metrics: { bind: s.hosts[node]?.metricsBind ?? s.hosts[node]!.address, port: s.metricsPort } } : {}),
    tcpKeepaliveTimers: features.tcpKeepaliveTimers,
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

/** The node-local proxy's config file on `node`: nginx.conf or haproxy.cfg, rendered (pure). */
export function nodeProxyFile(
  s: HaSettings,
  node: string,
  pkgMgr: 'apt' | 'dnf' | 'yum' | null,
  features: Features = ALL_FEATURES,
): { path: string; content: string; validate: string[] } {
  return s.nodeProxy === 'nginx'
    ? { path: NGINX_CONF, content: renderNodeNginx(nodeNginxVars(s, node, pkgMgr)), validate: [...NGINX_VALIDATE_ARGV] }
    : { path: HAPROXY_CFG, content: renderNodeHaproxy(nodeHaproxyVars(s, node, features)), validate: [...HAPROXY_VALIDATE_ARGV] };
}

// ---- tasks and handlers ---------------------------------------------------------------------

/** Stop and disable `unit` only when it runs kha's node-proxy config (never an operator's own nginx/haproxy). */
function retireOther(unit: 'haproxy' | 'nginx', conf: string): Task<any> {
  const q = quote(conf);
  return {
    module: commandModule,
    params: {
      title: `stop + disable ${unit} (kha's previous node-local proxy)`,
      cmd: { argv: ['systemctl', 'disable', '--now', `${unit}.service`] },
      // nothing to do unless the unit runs (or would start at boot with) kha's node-proxy config
      unless: {
        script: `! { grep -qsF ${quote(NODE_PROXY_MARK)} ${q} && { systemctl is-active --quiet ${unit}.service || systemctl is-enabled --quiet ${unit}.service; }; }`,
      },
    },
  };
}

/** Install, configure (validated, atomic) and start the node-local proxy; reloads via handlers. */
export function nodeProxyTasks(s: HaSettings): Task<any>[] {
  if (s.nodeProxy === 'nginx') {
    return [
      { module: packageModule, params: (hc: HostContext) => ({ names: nginxPackages(hc.facts.pkgMgr), noStart: true, record: INSTALLED_RECORD }) },
      {
        module: templateModule,
        params: (hc: HostContext) => ({
          ...nodeProxyFile(s, hc.host.name, hc.facts.pkgMgr, featuresOn(s, hc.facts)),
          mode: 0o644,
          owner: 'root',
          group: 'root',
        }),
        notify: [H_RELOAD_NGINX],
      },
      retireOther('haproxy', HAPROXY_CFG),
      { module: serviceModule, params: { name: 'nginx', state: 'started', enabled: true, record: [NGINX_CONF] }, clears: [H_RELOAD_NGINX, H_RESTART_NGINX] },
      { module: appliedModule, params: { unit: 'nginx.service', files: [NGINX_CONF] }, notify: [H_RELOAD_NGINX] },
    ];
  }
  return [
    {
      module: packageModule,
      params: { names: ['haproxy'], noStart: true, record: INSTALLED_RECORD, ...(s.haproxyVersion ? { versions: { haproxy: s.haproxyVersion } } : {}) },
    },
    { module: fileModule, params: { path: HAPROXY_DROPIN_DIR, state: 'directory', mode: 0o755, owner: 'root', group: 'root' } },
    {
      module: templateModule,
      params: { path: HAPROXY_DROPIN_PATH, content: renderHaproxyDropIn(), mode: 0o644, owner: 'root', group: 'root' },
      notify: [H_RESTART_HAPROXY],
    },
    { module: templateModule, params: { path: HAPROXY_TMPFILES_PATH, content: renderHaproxyTmpfiles(), mode: 0o644, owner: 'root', group: 'root' } },
    {
      module: templateModule,
      params: (hc: HostContext) => ({ ...nodeProxyFile(s, hc.host.name, hc.facts.pkgMgr, featuresOn(s, hc.facts)), mode: 0o644, owner: 'root', group: 'root' }),
      notify: [H_RELOAD_HAPROXY],
    },
    // the drop-in's reload runs it (a drain survives the reload)
    { module: templateModule, params: serverStateScriptFile() },
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
    {
      name: H_RESTART_HAPROXY,
      module: serviceModule,
      params: { name: 'haproxy', state: 'restarted', daemonReload: true, rollback: [HAPROXY_CFG], record: [HAPROXY_CFG] },
      // a restart reads the config too: the reload notified with it would only repeat it
      clears: [H_RELOAD_HAPROXY],
    },
    { name: H_RELOAD_HAPROXY, module: serviceModule, params: { name: 'haproxy', state: 'reloaded', rollback: [HAPROXY_CFG], record: [HAPROXY_CFG] } },
    {
      name: H_RESTART_NGINX,
      module: serviceModule,
      params: { name: 'nginx', state: 'restarted', rollback: [NGINX_CONF], record: [NGINX_CONF] },
      clears: [H_RELOAD_NGINX],
    },
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
