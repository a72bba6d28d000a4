// Network probes run on the hosts: scripts are pure (tested as data), parsers are pure.
import { quote } from '../transport/quote.js';

export { parseHaproxyStat, type BackendStat } from '../facts/haproxy.js';

/**
 * Listen for VRRP (IP protocol 112) for `seconds` on the host, joined to 224.0.0.18 on the
 * interface address, printing `src vrid priority` per packet. perl-base is on every Debian/RHEL
 * host (no tcpdump needed).
 */
export function vrrpListenScript(ifaceAddress: string, seconds: number): string {
  const perl = [
    'use Socket qw(:all);',
    'socket(my $s, PF_INET, SOCK_RAW, 112) or die "raw socket: $!\\n";',
    'eval { setsockopt($s, IPPROTO_IP, IP_ADD_MEMBERSHIP, pack_ip_mreq(inet_aton("224.0.0.18"), inet_aton($ARGV[1]))) };',
    'my $end = time + $ARGV[0];',
    'my $rin = ""; vec($rin, fileno($s), 1) = 1;',
    'while ((my $left = $end - time) > 0) {',
    '  my $n = select(my $rout = $rin, undef, undef, $left); last if $n <= 0;',
    '  recv($s, my $buf, 2048, 0) or next;',
    '  my $ihl = (ord(substr($buf, 0, 1)) & 15) * 4;',
    '  next if length($buf) < $ihl + 4;',
    '  printf "%s %d %d\\n", join(".", unpack("C4", substr($buf, 12, 4))), ord(substr($buf, $ihl + 1, 1)), ord(substr($buf, $ihl + 2, 1));',
    '}',
  ].join(' ');
  return `timeout ${seconds + 3} perl -e ${quote(perl)} ${seconds} ${quote(ifaceAddress)}`;
}

export interface VrrpSeen {
  src: string;
  vrid: number;
  priority: number;
}

export function parseVrrpListen(out: string): VrrpSeen[] {
  const seen: VrrpSeen[] = [];
  for (const l of out.split('\n')) {
    const m = /^(\d+\.\d+\.\d+\.\d+) (\d+) (\d+)$/.exec(l.trim());
    if (m) seen.push({ src: m[1]!, vrid: Number(m[2]), priority: Number(m[3]) });
  }
  return seen;
}

/** Routers other than ours that advertise our VRID: each is a collision ("bogus VRRP packet"). */
export function vridCollisions(seen: VrrpSeen[], vrid: number, ours: string[]): string[] {
  return [...new Set(seen.filter((p) => p.vrid === vrid && !ours.includes(p.src)).map((p) => p.src))];
}

/**
 * Does anything answer ARP for the VIP? Trigger resolution with a TCP connect attempt and read
 * the neighbour entry: an lladdr means some machine holds the address.
 */
export function vipAnswersScript(vip: string, iface: string): string {
  const v = quote(vip);
  const i = quote(iface);
  return `ip neigh del ${v} dev ${i} 2>/dev/null; timeout 1 bash -c ${quote(`exec 3<>/dev/tcp/${vip}/9`)} 2>/dev/null; sleep 0.5; ip neigh show ${v} dev ${i}`;
}

export function parseVipAnswers(out: string): string | null {
  const m = /lladdr\s+([0-9a-f:]{17})\s+(REACHABLE|STALE|DELAY|PROBE|PERMANENT)/i.exec(out);
  return m ? m[1]! : null;
}

/** `ip -o -4 addr show` holds the VIP? */
export function holdsVip(ipOut: string, vip: string): boolean {
  return new RegExp(`\\binet ${vip.replace(/\./g, '\\.')}/`).test(ipOut);
}

/**
 * A TCP connect to addr:port from the host (bash /dev/tcp, 2 s). The address and port reach bash
 * as its arguments ($0, $1), never as code: a playbook's wait_for.host cannot become a command.
 */
export function tcpConnectScript(addr: string, port: number, seconds = 2): string {
  return `timeout ${seconds} bash -c 'exec 3<>"/dev/tcp/$0/$1"' ${quote(addr)} ${quote(String(port))}`;
}

/**
 * haproxy's stats socket through perl (IO::Socket::UNIX is in perl-base; socat is not installed
 * on most hosts): `show stat` as CSV (parseHaproxyStat, facts/haproxy.ts, reads it).
 */
export function haproxyStatScript(socket: string): string {
  const perl =
    'use IO::Socket::UNIX; my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "stats socket $ARGV[0]: $!\\n"; print $s "show stat\\n"; print while <$s>;';
  return `perl -e ${quote(perl)} ${quote(socket)}`;
}

// ---- the node-local proxy ---------------------------------------------------------------------

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

// ---- an apiserver's health, asked from a load balancer as haproxy's checks ask --------------

/**
 * GET https://<address>:<port><path> from the host, TLS not verified (as haproxy's `check-ssl
 * verify none`); prints the HTTP status (000 when nothing answered). curl when the host has it
 * (the load balancers have it with track_apiserver), else openssl s_client (every host kha reads
 * certificates on has it); `no-tool` when neither. Address, port and path reach the shell quoted.
 */
export function readyProbeScript(address: string, port: number, path: string): string {
  const hostPort = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  const request = `GET ${path} HTTP/1.0\r\nHost: ${hostPort}\r\nConnection: close\r\n\r\n`;
  return [
    'if command -v curl >/dev/null 2>&1; then',
    `  curl -sk --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' ${quote(`https://${hostPort}${path}`)}`,
    'elif command -v openssl >/dev/null 2>&1; then',
    `  c=$(printf '%s' ${quote(request)} | timeout 4 openssl s_client -quiet -connect ${quote(hostPort)} 2>/dev/null | head -n 1)`,
    `  set -- $c; echo "\${2:-000}"`,
    'else',
    '  echo no-tool',
    'fi',
  ].join('\n');
}

/** readyProbeScript's answer: the HTTP status ('000': nothing answered), or 'no-tool'. Pure. */
export function readyAnswer(stdout: string): string {
  const t = stdout.trim();
  if (t === 'no-tool') return t;
  return /^\d{3}$/.test(t) ? t : '000';
}
