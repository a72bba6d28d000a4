// Metrics for Prometheus (issue 19). Two endpoints per load-balancer host, both on the host's own
// address (metrics_bind), never on the VIP:
// - haproxy's built-in exporter, a frontend in haproxy.cfg (metricsFrontend), on metrics_port;
// - kha's VRRP exporter, kha-metrics.sh run once per scrape by systemd socket activation
//   (kha-metrics.socket, Accept=yes) on vrrp_metrics_port. Not inside haproxy: haproxy's death is
//   exactly when the VRRP side matters (the host goes to FAULT), and a script needs no daemon,
//   no Lua and no package beyond what the host already has (bash, awk, iproute2, systemd, nft).
// Adverts from foreign routers on kha's VRID are counted by nftables (kha-vrrp-count.nft, loaded
// by the oneshot kha-vrrp-count.service): keepalived drops or merges them without a counter.
// Pure renders; nothing here touches a host.
import { absPath, badVar, int, ipAddr, joinLines, MANAGED_HEADER, token } from './files.js';
import { isIPv4 } from '../net/ipv4.js';

export const METRICS_SCRIPT_PATH = '/etc/keepalived/kha-metrics.sh';
export const METRICS_SOCKET_UNIT = 'kha-metrics.socket';
export const METRICS_SOCKET_PATH = `/etc/systemd/system/${METRICS_SOCKET_UNIT}`;
export const METRICS_SERVICE_PATH = '/etc/systemd/system/kha-metrics@.service';
export const VRRP_COUNT_NFT_PATH = '/etc/keepalived/kha-vrrp-count.nft';
export const VRRP_COUNT_UNIT = 'kha-vrrp-count.service';
export const VRRP_COUNT_UNIT_PATH = `/etc/systemd/system/${VRRP_COUNT_UNIT}`;
export const VRRP_COUNT_TABLE = 'kha_vrrp';
export const HAPROXY_METRICS_FRONTEND = 'kha-metrics';
export const DEFAULT_METRICS_PORT = 8405;
export const DEFAULT_VRRP_METRICS_PORT = 8406;

/** The haproxy.cfg frontend of haproxy's built-in Prometheus exporter (load balancers and node proxies alike). */
export function metricsFrontend(m: { bind: string; port: number }): string[] {
  const bind = ipAddr('metrics.bind', m.bind);
  const port = int('metrics.port', m.port, 1, 65535);
  return [
    '',
    `# Prometheus metrics: haproxy's built-in exporter at http://${bind}:${port}/metrics (metrics_port)`,
    `frontend ${HAPROXY_METRICS_FRONTEND}`,
    `    bind ${bind}:${port}`,
    '    mode http',
    '    no log',
    '    http-request use-service prometheus-exporter if { path /metrics }',
    '    http-request return status 404 content-type text/plain string "kha: the metrics are at /metrics"',
  ];
}

export interface MetricsScriptVars {
  vip: string;
  virtualRouterId: number;
  instance: string;
  /** keepalived's notify FIFO reader's state file (kha-notify.sh) */
  stateFile: string;
  /** haproxy's stats socket, for the backend states */
  statsSocket: string;
  backend: string;
}

/**
 * kha-metrics.sh: the kha_* metrics of one host in Prometheus's text format. With `http` it is the
 * socket-activated server: it reads the request (bounded), answers GET /metrics, anything else 404.
 * Without an argument it prints the metrics (what `kha status -o prometheus` runs over SSH).
 * Sources: the notify state file (state, transitions, VIP gains, last change), `ip addr` (holds
 * the VIP), keepalived's data and stats dumps (SIGUSR1/SIGUSR2: effective priority, check results,
 * adverts), nftables' counter (foreign adverts) and haproxy's stats socket (server states).
 */
export function renderMetricsScript(v: MetricsScriptVars): string {
  if (!isIPv4(v.vip)) badVar('vip', v.vip, 'must be an IPv4 address');
  const vrid = int('virtualRouterId', v.virtualRouterId, 1, 255);
  const instance = token('instance', v.instance);
  const stateFile = absPath('stateFile', v.stateFile);
  const statsSocket = absPath('statsSocket', v.statsSocket);
  const backend = token('backend', v.backend);
  return joinLines([
    '#!/bin/bash',
    MANAGED_HEADER,
    "# kha's VRRP exporter: the kha_* metrics of this host for Prometheus. `kha-metrics.sh http`",
    '# answers one HTTP request on stdin/stdout (kha-metrics.socket, one process per scrape);',
    '# without an argument it prints the metrics. Needs root: it signals keepalived for its dumps.',
    'set -uf',
    'export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin',
    `VIP=${v.vip}`,
    `VRID=${vrid}`,
    `INSTANCE=${instance}`,
    `STATE_FILE=${stateFile}`,
    `STATS_SOCKET=${statsSocket}`,
    `BACKEND=${backend}`,
    `NFT_TABLE=${VRRP_COUNT_TABLE}`,
    'L="vip=\\"$VIP\\""',
    '',
    'metric() { # name type help',
    '  printf \'# HELP %s %s\\n# TYPE %s %s\\n\' "$1" "$3" "$1" "$2"',
    '}',
    '',
    '# fresh dumps from keepalived (SIGUSR1: data, SIGUSR2: stats, keepalived 1.x to 2.3): remove the',
    '# old ones, signal once for both, wait (at most 1.5 s, shell builtins only) until both are there;',
    '# read only regular root-owned files that are not symlinks (/tmp is world-writable)',
    'D=/tmp/keepalived.data',
    'S=/tmp/keepalived.stats',
    'dumps() {',
    '  local pid end',
    '  [ -r /run/keepalived.pid ] || return 1',
    '  pid=$(</run/keepalived.pid)',
    '  rm -f "$D" "$S"',
    '  kill -USR1 "$pid" 2>/dev/null && kill -USR2 "$pid" 2>/dev/null || return 1',
    '  end=$(( ${EPOCHREALTIME/./} + 1500000 ))',
    '  until [ -s "$D" ] && [ -s "$S" ]; do',
    '    [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1',
    '    sleep 0.01',
    '  done',
    '  sleep 0.02',
    '  [ -f "$D" ] && [ ! -L "$D" ] && [ -O "$D" ] && [ -f "$S" ] && [ ! -L "$S" ] && [ -O "$S" ]',
    '}',
    '',
    'metrics() {',
    '  local ka=0 hp=0 held=0 state=STOP s base="" eff="" changes=0 masters=0 since=0',
    '  systemctl is-active --quiet keepalived.service && ka=1',
    '  systemctl is-active --quiet haproxy.service && hp=1',
    '  ip -o -4 addr show | grep -qF " inet $VIP/" && held=1',
    '  local k v fstate=""',
    '  if [ -r "$STATE_FILE" ]; then',
    '    while IFS== read -r k v; do',
    '      case "$k=$v" in',
    '        changes=[0-9]*) changes=$v ;;',
    '        masters=[0-9]*) masters=$v ;;',
    '        since=[0-9]*) since=$v ;;',
    '        state=[A-Z]*) fstate=$v ;;',
    '      esac',
    '    done <"$STATE_FILE"',
    '  fi',
    '  [ $ka = 1 ] && state=$fstate',
    '  case "$state" in MASTER|BACKUP|FAULT) ;; *) state=STOP ;; esac',
    '  metric kha_keepalived_up gauge "1 when keepalived.service is active."',
    '  echo "kha_keepalived_up{$L} $ka"',
    '  metric kha_haproxy_up gauge "1 when haproxy.service is active."',
    '  echo "kha_haproxy_up{$L} $hp"',
    '  metric kha_vrrp_state gauge "VRRP state of this host (one series per state, 1 for the current one; STOP when keepalived does not run)."',
    '  for s in MASTER BACKUP FAULT STOP; do echo "kha_vrrp_state{$L,state=\\"$s\\"} $([ $s = "$state" ] && echo 1 || echo 0)"; done',
    '  metric kha_vrrp_vip_held gauge "1 when the VIP is on one of this host\'s interfaces."',
    '  echo "kha_vrrp_vip_held{$L} $held"',
    '  metric kha_vrrp_transitions_total counter "VRRP state changes of this host since boot."',
    '  echo "kha_vrrp_transitions_total{$L} ${changes:-0}"',
    '  metric kha_vrrp_became_master_total counter "Times this host became MASTER (took the VIP) since boot."',
    '  echo "kha_vrrp_became_master_total{$L} ${masters:-0}"',
    '  metric kha_vrrp_last_transition_timestamp_seconds gauge "Unix time of the last VRRP state change (0: none since boot)."',
    '  echo "kha_vrrp_last_transition_timestamp_seconds{$L} ${since:-0}"',
    '  local dumped=0',
    '  [ $ka = 1 ] && dumps && dumped=1',
    '  if [ $dumped = 1 ]; then',
    '    awk -v L="$L" -v inst="$INSTANCE" \'',
    '      /^ VRRP Instance = / { mine = ($4 == inst) }',
    '      mine && /^   Priority = / { base = $3 }',
    '      mine && /^   Effective priority = / { eff = $4 }',
    '      /^------< / { mine = 0; section = $0 }',
    '      /^ VRRP Script = / { script = $4 }',
    '      script != "" && /^   Status = / { checks[script] = ($3 == "GOOD") ? 1 : 0; script = "" }',
    '      /^ Track file = / { file = $4 }',
    '      file != "" && /^   Status = / { checks[file] = ($3 == 0) ? 1 : 0; file = "" }',
    '      END {',
    '        if (base != "") { print "# HELP kha_vrrp_priority_base Configured VRRP priority."; print "# TYPE kha_vrrp_priority_base gauge"; print "kha_vrrp_priority_base{" L "} " base }',
    '        if (eff != "") { print "# HELP kha_vrrp_priority_effective VRRP priority now: the base plus the weights of failing checks."; print "# TYPE kha_vrrp_priority_effective gauge"; print "kha_vrrp_priority_effective{" L "} " eff }',
    '        n = 0; for (c in checks) n++',
    '        if (n) { print "# HELP kha_vrrp_check_ok 1 when a check keepalived tracks passes (script or file), 0 when it fails."; print "# TYPE kha_vrrp_check_ok gauge" }',
    '        for (c in checks) print "kha_vrrp_check_ok{" L ",check=\\"" c "\\"} " checks[c]',
    '      }\' "$D"',
    '  fi',
    '  if [ $dumped = 1 ]; then',
    '    awk -v L="$L" -v inst="$INSTANCE" \'',
    '      /^VRRP Instance: / { mine = ($3 == inst) }',
    '      mine && /^  Advertisements:/ { adv = 1; next }',
    '      mine && adv && /^    Received: / { rx = $2 }',
    '      mine && adv && /^    Sent: / { tx = $2; adv = 0 }',
    '      END {',
    '        if (rx != "") { print "# HELP kha_vrrp_adverts_received_total VRRP adverts keepalived received since it started."; print "# TYPE kha_vrrp_adverts_received_total counter"; print "kha_vrrp_adverts_received_total{" L "} " rx }',
    '        if (tx != "") { print "# HELP kha_vrrp_adverts_sent_total VRRP adverts keepalived sent since it started."; print "# TYPE kha_vrrp_adverts_sent_total counter"; print "kha_vrrp_adverts_sent_total{" L "} " tx }',
    '      }\' "$S"',
    '  fi',
    '  # the data dump holds the VRRP password: never leave it behind',
    '  rm -f "$D" "$S"',
    '  local foreign',
    '  foreign=$(nft list counter inet "$NFT_TABLE" foreign_adverts 2>/dev/null | sed -n "s/^[[:space:]]*packets \\([0-9][0-9]*\\) .*/\\1/p")',
    '  if [ -n "$foreign" ]; then',
    '    metric kha_vrrp_foreign_adverts_total counter "VRRP adverts on kha\'s VRID from addresses that are not kha\'s load balancers (nftables counter)."',
    '    echo "kha_vrrp_foreign_adverts_total{$L,vrid=\\"$VRID\\"} $foreign"',
    '    local src',
    '    src=$(nft list set inet "$NFT_TABLE" foreign_src 2>/dev/null | grep -oE "([0-9]{1,3}\\.){3}[0-9]{1,3}" | sort -u)',
    '    if [ -n "$src" ]; then',
    '      metric kha_vrrp_foreign_router gauge "A foreign VRRP router seen on kha\'s VRID in the last hour, by source address."',
    '      for s in $src; do echo "kha_vrrp_foreign_router{$L,vrid=\\"$VRID\\",source=\\"$s\\"} 1"; done',
    '    fi',
    '  fi',
    '  if [ $hp = 1 ] && [ -S "$STATS_SOCKET" ]; then',
    "    perl -MIO::Socket::UNIX -e '",
    '      my ($sock, $backend) = @ARGV;',
    '      my $s = IO::Socket::UNIX->new(Peer => $sock) or exit 0;',
    '      print $s "show stat\\n";',
    '      my (@cols, @rows);',
    '      while (my $line = <$s>) {',
    '        chomp $line;',
    '        if ($line =~ s/^# //) { @cols = split /,/, $line; next }',
    '        next unless length $line;',
    '        my %r; @r{@cols} = split /,/, $line, -1;',
    '        push @rows, \\%r if $r{pxname} eq $backend && $r{svname} ne "BACKEND";',
    '      }',
    '      exit 0 unless @rows;',
    '      print "# HELP kha_haproxy_server_state State of each apiserver in haproxy (one series per state, 1 for the current one).\\n";',
    '      print "# TYPE kha_haproxy_server_state gauge\\n";',
    '      for my $r (@rows) {',
    '        (my $st = $r->{status}) =~ s/ .*//;',
    '        $st = "UP" if $st eq "no";',
    '        for my $k (qw(UP DOWN DRAIN MAINT NOLB)) {',
    '          printf "kha_haproxy_server_state{backend=\\"%s\\",server=\\"%s\\",state=\\"%s\\"} %d\\n", $backend, $r->{svname}, $k, $st eq $k ? 1 : 0;',
    '        }',
    '      }\' "$STATS_SOCKET" "$BACKEND"',
    '  fi',
    '}',
    '',
    'if [ "${1:-}" != http ]; then',
    '  metrics',
    '  exit 0',
    'fi',
    '# one HTTP request: the request line, then headers until an empty line (bounded in lines and time)',
    'IFS= read -r -t 5 request || exit 0',
    'n=0',
    'while [ $n -lt 100 ] && IFS= read -r -t 5 line; do',
    "  line=${line%$'\\r'}",
    '  [ -z "$line" ] && break',
    '  n=$((n + 1))',
    'done',
    'set -- $request',
    'if [ "${1:-}" = GET ] && [ "${2%%\\?*}" = /metrics ]; then',
    '  body=$(metrics)',
    '  body="$body"$\'\\n\'',
    '  printf \'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain; version=0.0.4; charset=utf-8\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s\' "${#body}" "$body"',
    'else',
    "  body=$'kha: the metrics are at GET /metrics\\n'",
    '  printf \'HTTP/1.1 404 Not Found\\r\\nContent-Type: text/plain\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s\' "${#body}" "$body"',
    'fi',
  ]);
}

/** kha-metrics.socket: the VRRP exporter's listening socket (one kha-metrics@ process per connection). */
export function renderMetricsSocket(v: { bind: string; port: number }): string {
  const bind = ipAddr('bind', v.bind);
  const port = int('port', v.port, 1, 65535);
  return joinLines([
    MANAGED_HEADER,
    '[Unit]',
    "Description=kha VRRP metrics for Prometheus (kha's exporter)",
    '',
    '[Socket]',
    `ListenStream=${bind}:${port}`,
    // the host's own address may come up after the socket unit: bind anyway
    'FreeBind=yes',
    'Accept=yes',
    'MaxConnections=8',
    '',
    '[Install]',
    'WantedBy=sockets.target',
  ]);
}

/** kha-metrics@.service: one scrape, stdin/stdout on the accepted connection, bounded in time. */
export function renderMetricsService(v: { script?: string } = {}): string {
  const script = absPath('script', v.script ?? METRICS_SCRIPT_PATH);
  return joinLines([
    MANAGED_HEADER,
    '[Unit]',
    'Description=kha VRRP metrics: one scrape',
    '',
    '[Service]',
    `ExecStart=${script} http`,
    'StandardInput=socket',
    'StandardOutput=socket',
    'StandardError=journal',
    'RuntimeMaxSec=10',
    'PrivateTmp=no',
    'ProtectHome=yes',
    'NoNewPrivileges=yes',
  ]);
}

/**
 * The nftables table that counts VRRP adverts on kha's VRID from any address that is not one of
 * the cluster's load balancers (a foreign router: the VRID collision preflight only catches at
 * install time). Counting only: the chain's policy is accept and no rule has a verdict.
 */
export function renderVrrpCountNft(v: { virtualRouterId: number; peers: readonly string[] }): string {
  const vrid = int('virtualRouterId', v.virtualRouterId, 1, 255);
  if (v.peers.length === 0) badVar('peers', v.peers, 'must list the load balancers');
  const peers = v.peers.map((p, i) => (isIPv4(p) ? p : badVar(`peers[${i}]`, p, 'must be an IPv4 address')));
  return joinLines([
    MANAGED_HEADER,
    `# Counts VRRP adverts (IP protocol 112) for VRID ${vrid} from addresses that are not kha's load`,
    '# balancers: kha-metrics.sh reports them (kha_vrrp_foreign_adverts_total). Counting only: no verdict.',
    `table inet ${VRRP_COUNT_TABLE}`,
    `delete table inet ${VRRP_COUNT_TABLE}`,
    `table inet ${VRRP_COUNT_TABLE} {`,
    `  set peers { type ipv4_addr; elements = { ${peers.join(', ')} } }`,
    '  set foreign_src { type ipv4_addr; size 64; flags dynamic, timeout; timeout 1h; }',
    '  counter foreign_adverts { }',
    '  chain input {',
    '    type filter hook input priority -400; policy accept;',
    `    ip protocol 112 @th,8,8 ${vrid} ip saddr != @peers counter name "foreign_adverts" update @foreign_src { ip saddr }`,
    '  }',
    '}',
  ]);
}

/** The oneshot unit that loads the counting table at boot (before keepalived) and removes it when stopped. */
export function renderVrrpCountUnit(v: { nftFile?: string } = {}): string {
  const file = absPath('nftFile', v.nftFile ?? VRRP_COUNT_NFT_PATH);
  return joinLines([
    MANAGED_HEADER,
    '[Unit]',
    "Description=kha: count VRRP adverts from foreign routers on kha's VRID (nftables, counting only)",
    'Before=keepalived.service',
    'After=network-pre.target',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    `ExecStart=/usr/sbin/nft -f ${file}`,
    `ExecStop=-/usr/sbin/nft delete table inet ${VRRP_COUNT_TABLE}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  ]);
}
