// haproxy.cfg for kha: TCP from <bindAddress>:<frontendPort> to every master's kube-apiserver,
// HTTPS health checks on the apiservers' health path, and a loopback HTTP monitor frontend that
// keepalived's vrrp check asks (see renderCheckHaproxyScript in files.ts). Pure: vars -> text.
//
// Checked against haproxy 2.6 (Debian bookworm) with `haproxy -c`. Notes:
// - Debian's haproxy.service starts `haproxy -Ws` (master-worker + systemd notify). `master-worker`
//   in global says the same thing, so the file also reloads seamlessly when started another way;
//   the two do not conflict.
// - `expose-fd listeners` on the stats socket lets a reload hand the listening sockets over.
// - check-ssl + verify none: the checks speak TLS to the apiserver without verifying its
//   certificate (the LB has no CA). Client traffic is passed through untouched (mode tcp).
// - never ssl-hello-chk: it sends SSLv3 hellos that modern apiservers reject.
// - `transparent` on the frontend bind: measured on a lab, a watch through a holder that lost the
//   VIP (keepalived stopped) stalled 12.6 s until the VIP came back, because the kernel drops what
//   a socket sends from an address the host no longer has; with IP_TRANSPARENT it may, the
//   client's reply goes to the new holder, and its RST ended the stream 0.5 s after the move.
import { metricsFrontend } from './metrics.js';
import { MANAGED_HEADER, MONITOR_URI, absPath, badVar, duration, int, ipAddr, joinLines, token, uriPath } from './files.js';
import { SERVER_STATE_FILE } from './server-state.js';

export const HAPROXY_FRONTEND = 'kube-apiserver';
export const HAPROXY_BACKEND = 'kube-apiservers';
export const HAPROXY_MONITOR_FRONTEND = 'kha-monitor';

export interface HaproxyBackend {
  /** server name, unique (the host name) */
  name: string;
  address: string;
  port: number;
}

export interface HaproxyVars {
  frontendPort: number;
  /** '0.0.0.0' (default, no sysctl needed) or the VIP (then see needsNonlocalBind) */
  bindAddress: string;
  /** one server line each, in the given order */
  backends: HaproxyBackend[];
  algorithm: 'roundrobin' | 'leastconn';
  /** apiserver health path for the checks, e.g. '/readyz' */
  healthPath: string;
  timeouts: {
    client: string;
    server: string;
    connect: string;
    /**
     * idle limit of an established TCP session (watches, exec, logs -f). In mode tcp it replaces
     * client/server as soon as the session is up. Default '1h'.
     */
    tunnel?: string;
    /** read timeout of a health check once connected. Default '5s'. */
    check?: string;
  };
  /** 127.0.0.1 port of the local monitor frontend used by the keepalived check (e.g. 8404) */
  monitorPort: number;
  /** e.g. '/run/haproxy/admin.sock' */
  statsSocket: string;
  /** e.g. '1h' (DEFAULT_HARD_STOP_AFTER): old workers still holding sessions after a reload are stopped after this */
  hardStopAfter: string;
  /** haproxy's Prometheus exporter on this address and port (metrics); none when undefined */
  metrics?: { bind: string; port: number };
  /** {cli,srv}tcpka-{idle,intvl,cnt} (haproxy 2.4+; see KEYWORD_GATES in facts/versions.ts). Default true */
  tcpKeepaliveTimers?: boolean;
}

export const DEFAULT_TUNNEL_TIMEOUT = '1h';
/**
 * The inventory's default for haproxy_hard_stop_after. kube-apiserver ends every watch itself
 * within 30 to 60 min (--min-request-timeout 1800 s, randomized), and client-go reconnects it; so
 * an hour after a reload an old worker holds only streams nobody reconnects (`kubectl logs -f`,
 * exec, port-forward). They get that hour instead of the 30 s that cut them before.
 */
export const DEFAULT_HARD_STOP_AFTER = '1h';
/**
 * TCP keepalive on both sides of every session: idle seconds, then probes every interval, and
 * count unanswered probes close it. A client or server that vanished without a RST (a host down,
 * the VIP moved away, a partition) is found in 10 + 3 x 3 = 19 s instead of Linux's 2 h; and a
 * probe from the old holder after the VIP moved draws the client's reply to the new holder, whose
 * RST tells the client to reconnect.
 */
export const TCP_KEEPALIVE = { idle: '10s', interval: '3s', count: 3 } as const;
export const DEFAULT_CHECK_TIMEOUT = '5s';

/**
 * Binding a specific address the host may not hold (the VIP on a BACKUP) needs
 * net.ipv4.ip_nonlocal_bind=1 (net.ipv6.ip_nonlocal_bind for IPv6). Wildcards never do.
 */
export function needsNonlocalBind(v: Pick<HaproxyVars, 'bindAddress'>): boolean {
  return v.bindAddress !== '0.0.0.0' && v.bindAddress !== '::';
}

/** `addr:port`, brackets not needed by haproxy for IPv6 (it splits on the last colon). */
function hostPort(addr: string, port: number): string {
  return `${addr}:${port}`;
}

/**
 * The global section kha writes for every haproxy it manages (VIP and node-local): master-worker
 * for seamless reloads, hard-stop-after, an admin stats socket that hands over listeners, and the
 * server-state file a drain survives a reload in.
 */
export function haproxyGlobal(hardStopAfter: string, statsSocket: string): string[] {
  return [
    'global',
    '    log /dev/log local0',
    '    chroot /var/lib/haproxy',
    '    user haproxy',
    '    group haproxy',
    '    master-worker',
    `    hard-stop-after ${hardStopAfter}`,
    `    stats socket ${statsSocket} mode 660 level admin expose-fd listeners`,
    '    stats timeout 30s',
    '    # servers drained on the stats socket (kha drain) stay drained across a reload: the reload',
    '    # saves them here first (the haproxy drop-in), and the new workers read it as they start',
    `    server-state-file ${SERVER_STATE_FILE}`,
    '',
  ];
}

/**
 * The TCP defaults of every haproxy kha manages; `options` adds lines such as `option dontlognull`.
 * `tcpKeepaliveTimers` false (haproxy before 2.4): keepalive stays on, with the kernel's timers.
 */
export function haproxyDefaults(
  t: { connect: string; client: string; server: string; tunnel: string; check: string },
  options: string[] = [],
  tcpKeepaliveTimers = true,
): string[] {
  const timers = (side: 'cli' | 'srv') =>
    tcpKeepaliveTimers
      ? [`    ${side}tcpka-idle ${TCP_KEEPALIVE.idle}`, `    ${side}tcpka-intvl ${TCP_KEEPALIVE.interval}`, `    ${side}tcpka-cnt ${TCP_KEEPALIVE.count}`]
      : [];
  return [
    'defaults',
    '    log global',
    '    mode tcp',
    '    option tcplog',
    ...options.map((o) => `    ${o}`),
    '    option redispatch',
    '    retries 3',
    `    timeout connect ${t.connect}`,
    `    timeout client ${t.client}`,
    `    timeout server ${t.server}`,
    '    # tunnel: idle limit of an established session (watches, exec, logs -f)',
    `    timeout tunnel ${t.tunnel}`,
    `    timeout check ${t.check}`,
    tcpKeepaliveTimers
      ? `    # TCP keepalive both ways: a peer gone without a RST is found in ${TCP_KEEPALIVE.idle} + ${TCP_KEEPALIVE.count} x ${TCP_KEEPALIVE.interval}, not 2 h`
      : "    # TCP keepalive both ways, on the kernel's timers (net.ipv4.tcp_keepalive_*): haproxy before 2.4 has no per-session timers",
    '    option clitcpka',
    ...timers('cli'),
    '    option srvtcpka',
    ...timers('srv'),
    '    load-server-state-from-file global',
    '',
  ];
}

export function renderHaproxy(v: HaproxyVars): string {
  const frontendPort = int('frontendPort', v.frontendPort, 1, 65535);
  const bind = ipAddr('bindAddress', v.bindAddress);
  const monitorPort = int('monitorPort', v.monitorPort, 1, 65535);
  if (monitorPort === frontendPort) badVar('monitorPort', monitorPort, 'must differ from frontendPort');
  if (v.algorithm !== 'roundrobin' && v.algorithm !== 'leastconn') badVar('algorithm', v.algorithm, 'must be roundrobin or leastconn');
  const healthPath = uriPath('healthPath', v.healthPath);
  const statsSocket = absPath('statsSocket', v.statsSocket);
  const hardStopAfter = duration('hardStopAfter', v.hardStopAfter);
  const t = {
    connect: duration('timeouts.connect', v.timeouts.connect),
    client: duration('timeouts.client', v.timeouts.client),
    server: duration('timeouts.server', v.timeouts.server),
    tunnel: duration('timeouts.tunnel', v.timeouts.tunnel ?? DEFAULT_TUNNEL_TIMEOUT),
    check: duration('timeouts.check', v.timeouts.check ?? DEFAULT_CHECK_TIMEOUT),
  };
  if (v.backends.length === 0) badVar('backends', v.backends, 'must list at least one apiserver');
  const seen = new Set<string>();
  const servers = v.backends.map((b, i) => {
    const name = token(`backends[${i}].name`, b.name);
    if (seen.has(name)) badVar(`backends[${i}].name`, name, 'is listed twice');
    seen.add(name);
    const addr = ipAddr(`backends[${i}].address`, b.address);
    const port = int(`backends[${i}].port`, b.port, 1, 65535);
    return `    server ${name} ${hostPort(addr, port)} check`;
  });

  return joinLines([
    MANAGED_HEADER,
    ...haproxyGlobal(hardStopAfter, statsSocket),
    ...haproxyDefaults(t, [], v.tcpKeepaliveTimers ?? true),
    `frontend ${HAPROXY_FRONTEND}`,
    '    # transparent (IP_TRANSPARENT): once the VIP has moved away, this host can still send on the',
    '    # sessions it holds, so the client answers the new holder, whose RST makes it reconnect at once;',
    '    # without it those sessions hang silently until the VIP comes back',
    `    bind ${hostPort(bind, frontendPort)} transparent`,
    '    mode tcp',
    `    default_backend ${HAPROXY_BACKEND}`,
    '',
    `backend ${HAPROXY_BACKEND}`,
    '    mode tcp',
    `    balance ${v.algorithm}`,
    '    option httpchk',
    `    http-check send meth GET uri ${healthPath}`,
    '    http-check expect status 200',
    '    # check-ssl verify none: the checks speak TLS but do not verify the certificate',
    '    # fastinter/downinter 500ms: an apiserver that comes up (kubeadm init, a join) serves within',
    '    # about 1 s (rise 2), and one that fails is out after 2 s + 2 x 500ms (fall 3)',
    '    default-server inter 2s fastinter 500ms downinter 500ms fall 3 rise 2 check check-ssl verify none on-marked-down shutdown-sessions',
    ...servers,
    '',
    '# Local health for the keepalived vrrp check: 200 while this haproxy runs and serves. Not tied',
    '# to the apiservers: every load balancer sees the same masters, so moving the VIP cannot help',
    '# when none answers (before kubeadm init, or a full outage), and a haproxy that has just',
    '# started counts its backends up until their first check (the VIP would hop to it).',
    `frontend ${HAPROXY_MONITOR_FRONTEND}`,
    `    bind ${hostPort('127.0.0.1', monitorPort)}`,
    '    mode http',
    `    monitor-uri ${MONITOR_URI}`,
    ...(v.metrics ? metricsFrontend(v.metrics) : []),
  ]);
}
