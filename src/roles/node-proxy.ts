// The node-local apiserver proxy (kubespray's "localhost load balancing"): every worker node runs a
// small TCP proxy on 127.0.0.1:<apiserver_port> that spreads kubelet's and kube-proxy's
// connections over every master, so a node keeps working when one apiserver (or the VIP) fails.
// Two flavours, both pure (vars -> text):
// - haproxy (default): active HTTPS checks of each apiserver's health path plus passive checks of
//   live traffic; master-worker mode, so a reload keeps established watches.
// - nginx (stream module): as kubespray's nginx-proxy (least_conn, proxy_timeout 10m,
//   proxy_connect_timeout 1s). nginx OSS has NO active health checks (`health_check` is
//   NGINX Plus only): a dead apiserver is noticed only when a connection to it fails (passive,
//   max_fails / fail_timeout), and the connection is then retried on the next server.
//
// Checked against haproxy 2.6 and nginx 1.22 (Debian bookworm) with `haproxy -c -f` and
// `nginx -t -c` (see the golden tests).
import { metricsFrontend } from './metrics.js';
import { DEFAULT_HARD_STOP_AFTER, haproxyDefaults, haproxyGlobal } from './haproxy.js';
import { MANAGED_HEADER, absPath, badVar, duration, int, ipAddr, joinLines, token, uriPath } from './files.js';

export const NODE_PROXY_FRONTEND = 'kube-apiserver-local';
export const NODE_PROXY_BACKEND = 'kube-apiservers';
export const NGINX_UPSTREAM = 'kube_apiserver';

/** Debian's and RHEL's nginx.service both read this file (and `nginx -t` in ExecStartPre checks it). */
export const NGINX_CONF = '/etc/nginx/nginx.conf';
/**
 * `nginx -t -c <file>` checks a whole main config (not a fragment), which is why the renderer
 * writes a full nginx.conf. -q: only errors are printed.
 */
export const NGINX_VALIDATE_ARGV: readonly string[] = ['nginx', '-t', '-q', '-c', '%s'];

export interface NodeProxyBackend {
  /** server name (the master's host name) */
  name: string;
  address: string;
  port: number;
}

export interface NodeHaproxyVars {
  /** 127.0.0.1 port the node's kubelet talks to (apiserver_port, 6443) */
  listenPort: number;
  /** default '127.0.0.1' */
  listenAddress?: string;
  backends: NodeProxyBackend[];
  /** active check path, e.g. /readyz */
  healthPath: string;
  timeouts: {
    /** a dead master is skipped quickly (redispatch + retries) */
    connect: string;
    /** client/server/tunnel: idle limit of an established session; long for watches */
    client: string;
    server: string;
    tunnel?: string;
    /** read timeout of one health check (default 5s) */
    check?: string;
  };
  /** active checks: interval, failures to mark down, successes to mark up (default 2s / 3 / 2) */
  check?: { inter?: string; fall?: number; rise?: number };
  /** passive checks: consecutive connection errors on live traffic that mark a server down (default 10) */
  errorLimit?: number;
  /** e.g. /run/haproxy/admin.sock */
  statsSocket: string;
  /** old workers still holding sessions after a reload are stopped after this (default 1h, haproxy_hard_stop_after) */
  hardStopAfter?: string;
  /** haproxy's Prometheus exporter on this address and port (metrics); none when undefined */
  metrics?: { bind: string; port: number };
  /** {cli,srv}tcpka-{idle,intvl,cnt} (haproxy 2.4+). Default true */
  tcpKeepaliveTimers?: boolean;
}

/**
 * haproxy.cfg for a node. Notes:
 * - balance leastconn: watches are long-lived, so the count of open connections is the load.
 *   Servers with the same count are used in turn (haproxy round-robins within equal loads).
 * - active checks: `check check-ssl verify none` + `option httpchk` GET <healthPath>, expect 200
 *   (TLS without verifying the apiserver's certificate: the check only reads health).
 * - passive checks: `observe layer4 error-limit N on-error mark-down`: N failed connections of
 *   real traffic mark the server down at once, before the next active check would.
 * - on-marked-down shutdown-sessions: watches on a server that went down are cut, so clients
 *   reconnect (to a healthy server) instead of waiting on a dead one.
 * - master-worker + expose-fd listeners: `systemctl reload` keeps established sessions.
 */
export function renderNodeHaproxy(v: NodeHaproxyVars): string {
  const port = int('listenPort', v.listenPort, 1, 65535);
  const listen = ipAddr('listenAddress', v.listenAddress ?? '127.0.0.1');
  const healthPath = uriPath('healthPath', v.healthPath);
  const statsSocket = absPath('statsSocket', v.statsSocket);
  const hardStopAfter = duration('hardStopAfter', v.hardStopAfter ?? DEFAULT_HARD_STOP_AFTER);
  const t = {
    connect: duration('timeouts.connect', v.timeouts.connect),
    client: duration('timeouts.client', v.timeouts.client),
    server: duration('timeouts.server', v.timeouts.server),
    tunnel: duration('timeouts.tunnel', v.timeouts.tunnel ?? v.timeouts.client),
    check: duration('timeouts.check', v.timeouts.check ?? '5s'),
  };
  const inter = duration('check.inter', v.check?.inter ?? '2s');
  const fall = int('check.fall', v.check?.fall ?? 3, 1, 100);
  const rise = int('check.rise', v.check?.rise ?? 2, 1, 100);
  const errorLimit = int('errorLimit', v.errorLimit ?? 10, 1, 1000);
  const servers = backendLines(v.backends, (b) => `    server ${b.name} ${b.address}:${b.port}`);

  return joinLines([
    MANAGED_HEADER,
    '# Node-local apiserver proxy: kubelet and kube-proxy on this node talk to',
    `# https://${listen}:${port}, haproxy spreads them over every master.`,
    ...haproxyGlobal(hardStopAfter, statsSocket),
    ...haproxyDefaults(t, ['option dontlognull'], v.tcpKeepaliveTimers ?? true),
    `frontend ${NODE_PROXY_FRONTEND}`,
    `    bind ${listen}:${port}`,
    '    mode tcp',
    `    default_backend ${NODE_PROXY_BACKEND}`,
    '',
    `backend ${NODE_PROXY_BACKEND}`,
    '    mode tcp',
    '    balance leastconn',
    '    # active: HTTPS GET of the health path (TLS not verified: the check reads health only)',
    '    option httpchk',
    `    http-check send meth GET uri ${healthPath}`,
    '    http-check expect status 200',
    '    # passive: failed connections of real traffic mark a server down at once',
    '    # downinter/fastinter 500ms: a master that comes up (kubeadm init, a join) serves within about 1 s',
    `    default-server check check-ssl verify none inter ${inter} fastinter 500ms downinter 500ms fall ${fall} rise ${rise} observe layer4 error-limit ${errorLimit} on-error mark-down on-marked-down shutdown-sessions`,
    ...servers,
    ...(v.metrics ? metricsFrontend(v.metrics) : []),
  ]);
}

export interface NodeNginxVars {
  listenPort: number;
  /** default '127.0.0.1' */
  listenAddress?: string;
  backends: NodeProxyBackend[];
  /** proxy_connect_timeout (kubespray: 1s) */
  connectTimeout?: string;
  /** proxy_timeout: idle limit between two reads or writes (kubespray: 10m; watches send bookmarks) */
  proxyTimeout?: string;
  /** passive checks: failed attempts within failTimeout that take a server out for failTimeout (nginx default 1 / 10s) */
  maxFails?: number;
  failTimeout?: string;
  /** worker user: www-data (Debian) or nginx (RHEL) */
  user: string;
  /**
   * glob of the module snippets to load: the stream module is a dynamic module on Debian
   * (libnginx-mod-stream: /etc/nginx/modules-enabled/*.conf) and RHEL (nginx-mod-stream:
   * /usr/share/nginx/modules/*.conf); a glob that matches nothing is fine when it is built in
   */
  modulesInclude: string;
  /** the distro units expect it: PIDFile=/run/nginx.pid (default) */
  pidFile?: string;
}

/** The include glob of the stream module's load_module snippet, by package manager. */
export function nginxModulesInclude(pkgMgr: 'apt' | 'dnf' | 'yum' | null): string {
  return pkgMgr === 'apt' ? '/etc/nginx/modules-enabled/*.conf' : '/usr/share/nginx/modules/*.conf';
}

/** The packages of the nginx flavour, by package manager (the stream module is separate on both). */
export function nginxPackages(pkgMgr: 'apt' | 'dnf' | 'yum' | null): string[] {
  return pkgMgr === 'apt' ? ['nginx', 'libnginx-mod-stream'] : ['nginx', 'nginx-mod-stream'];
}

const NGINX_TIME = /^\d+(ms|s|m|h|d)?$/;
const GLOB_PATH = /^(\/[A-Za-z0-9._@%+*-]+)+$/;

/**
 * A full nginx.conf (the distro's nginx.service runs `nginx -t` and `nginx` on /etc/nginx/nginx.conf,
 * and `nginx -t -c` validates only a main config). Only a stream server: no http block, so the
 * distro's default site on :80 is not started.
 */
export function renderNodeNginx(v: NodeNginxVars): string {
  const port = int('listenPort', v.listenPort, 1, 65535);
  const listen = ipAddr('listenAddress', v.listenAddress ?? '127.0.0.1');
  const time = (what: string, x: string) => {
    if (!NGINX_TIME.test(x)) badVar(what, x, 'must be an nginx time like 1s, 10m');
    return x;
  };
  const connect = time('connectTimeout', v.connectTimeout ?? '1s');
  const proxyTimeout = time('proxyTimeout', v.proxyTimeout ?? '10m');
  const maxFails = int('maxFails', v.maxFails ?? 1, 0, 1000);
  const failTimeout = time('failTimeout', v.failTimeout ?? '10s');
  const user = token('user', v.user);
  if (!GLOB_PATH.test(v.modulesInclude)) badVar('modulesInclude', v.modulesInclude, 'must be an absolute path (a * glob is allowed)');
  const pidFile = absPath('pidFile', v.pidFile ?? '/run/nginx.pid');
  const listenAt = listen.includes(':') ? `[${listen}]:${port}` : `${listen}:${port}`;
  const servers = backendLines(v.backends, (b) => {
    const at = b.address.includes(':') ? `[${b.address}]:${b.port}` : `${b.address}:${b.port}`;
    return `        server ${at} max_fails=${maxFails} fail_timeout=${failTimeout}; # ${b.name}`;
  });

  return joinLines([
    MANAGED_HEADER,
    '# Node-local apiserver proxy (nginx stream): kubelet and kube-proxy on this node talk to',
    `# https://${listenAt}, nginx spreads them over every master.`,
    '# nginx OSS has no active health checks: a dead master is noticed when a connection to it',
    '# fails (max_fails within fail_timeout), and that connection is retried on the next server.',
    `include ${v.modulesInclude};`,
    '',
    `user ${user};`,
    'worker_processes auto;',
    `pid ${pidFile};`,
    'error_log stderr warn;',
    '# a reload lets old workers finish their watches for at most this long',
    'worker_shutdown_timeout 30s;',
    '',
    'events {',
    '    multi_accept on;',
    '    use epoll;',
    '    worker_connections 1024;',
    '}',
    '',
    'stream {',
    `    upstream ${NGINX_UPSTREAM} {`,
    '        least_conn;',
    ...servers,
    '    }',
    '',
    '    server {',
    `        listen ${listenAt};`,
    `        proxy_pass ${NGINX_UPSTREAM};`,
    `        proxy_timeout ${proxyTimeout};`,
    `        proxy_connect_timeout ${connect};`,
    '    }',
    '}',
  ]);
}

/** Count the servers of the kha upstream in a rendered nginx.conf (status: nginx has no stats socket). */
export function countNginxServers(conf: string): number {
  const m = new RegExp(`upstream\\s+${NGINX_UPSTREAM}\\s*\\{([^}]*)\\}`).exec(conf);
  if (!m) return 0;
  return m[1]!.split('\n').filter((l) => /^\s*server\s+\S+/.test(l)).length;
}

function backendLines(backends: NodeProxyBackend[], line: (b: NodeProxyBackend) => string): string[] {
  if (backends.length === 0) badVar('backends', backends, 'must list at least one apiserver');
  const seen = new Set<string>();
  return backends.map((b, i) => {
    const name = token(`backends[${i}].name`, b.name);
    if (seen.has(name)) badVar(`backends[${i}].name`, name, 'is listed twice');
    seen.add(name);
    return line({ name, address: ipAddr(`backends[${i}].address`, b.address), port: int(`backends[${i}].port`, b.port, 1, 65535) });
  });
}
