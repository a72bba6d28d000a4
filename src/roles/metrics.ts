// Metrics for Prometheus (issue 19). Two endpoints per load-balancer host, both on the host's own
// address (metrics_bind), never on the VIP:
// - haproxy's built-in exporter, a frontend in haproxy.cfg (metricsFrontend), on metrics_port;
// - kha's VRRP exporter on vrrp_metrics_port: a small perl server (kha-metrics-server.pl, started
//   by systemd socket activation on the first scrape) that runs the collector kha-metrics.sh at
//   most once a second and answers from the newest collection. Not inside haproxy: haproxy's death
//   is exactly when the VRRP side matters (the host goes to FAULT); no Lua and no package beyond
//   what the host already has (bash, awk, perl-base, iproute2, systemd, nft). Why not one
//   process per scrape (Accept=yes, the first design): on a loaded host systemd's spawn plus
//   twenty-five forks took over Prometheus's 5 s timeout.
// Adverts from foreign routers on kha's VRID are counted by nftables (kha-vrrp-count.nft, loaded
// by the oneshot kha-vrrp-count.service): keepalived drops or merges them without a counter.
// Pure renders; nothing here touches a host.
import { absPath, badVar, DUMP_LOCK, int, ipAddr, joinLines, MANAGED_HEADER, token } from './files.js';
import { isIPv4 } from '../net/ipv4.js';

export const METRICS_SCRIPT_PATH = '/etc/keepalived/kha-metrics.sh';
export const METRICS_SOCKET_UNIT = 'kha-metrics.socket';
export const METRICS_SOCKET_PATH = `/etc/systemd/system/${METRICS_SOCKET_UNIT}`;
export const METRICS_SERVICE_UNIT = 'kha-metrics.service';
export const METRICS_SERVICE_PATH = `/etc/systemd/system/${METRICS_SERVICE_UNIT}`;
export const METRICS_SERVER_PATH = '/etc/keepalived/kha-metrics-server.pl';
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
 * kha-metrics.sh, the collector: prints the kha_* metrics of one host in Prometheus's text format.
 * kha-metrics-server.pl runs it for the scrapes; `kha status -o prometheus` runs it over SSH.
 * Sources: the notify state file (state, transitions, VIP gains, last change), `ip addr` (holds
 * the VIP), keepalived's data and stats dumps (SIGUSR1/SIGUSR2: effective priority, check results,
 * adverts), nftables' table (foreign adverts and their sources) and haproxy's stats socket (server
 * states). Few forks (systemctl, ip, nft, rm, one awk, one perl): on a loaded host each one costs
 * tens of milliseconds, and a collection that forked twenty-five times took seconds.
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
    "# kha's VRRP exporter, the collector: prints this host's kha_* metrics for Prometheus.",
    '# kha-metrics-server.pl runs it for the scrapes (kha-metrics.socket); so does',
    '# `kha status -o prometheus`. Needs root: it signals keepalived for its dumps.',
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
    'D=/tmp/keepalived.data',
    'S=/tmp/keepalived.stats',
    '',
    'metric() { # name type help',
    '  printf \'# HELP %s %s\\n# TYPE %s %s\\n\' "$1" "$3" "$1" "$2"',
    '}',
    '',
    '# sleep without a fork: a read that times out on a pipe nobody writes to',
    'exec {NAP}<> <(:)',
    'nap() { read -r -t "$1" -u "$NAP" _ || true; }',
    '',
    '# fresh dumps from keepalived (SIGUSR1: data, SIGUSR2: stats, keepalived 1.x to 2.3): remove the',
    '# old ones, signal once for both, wait (at most 1.5 s, no forks) until both are there; read only',
    '# regular root-owned files that are not symlinks (/tmp is world-writable). One reader at a time:',
    "# kha up's own check probe asks for the same dump, and each removes it after reading",
    'dumps() {',
    '  local pid end',
    '  [ -r /run/keepalived.pid ] && read -r pid </run/keepalived.pid || return 1',
    `  exec {LK}>${DUMP_LOCK} && flock -w 3 "$LK" || return 1`,
    '  rm -f "$D" "$S"',
    '  kill -USR1 "$pid" 2>/dev/null && kill -USR2 "$pid" 2>/dev/null || return 1',
    '  end=$(( ${EPOCHREALTIME/./} + 1500000 ))',
    '  until [ -s "$D" ] && [ -s "$S" ]; do',
    '    [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1',
    '    nap 0.01',
    '  done',
    '  nap 0.02',
    '  [ -f "$D" ] && [ ! -L "$D" ] && [ -O "$D" ] && [ -f "$S" ] && [ ! -L "$S" ] && [ -O "$S" ]',
    '}',
    '',
    'ka=0 hp=0 held=0 state=STOP fstate="" changes=0 masters=0 since=0',
    'mapfile -t active < <(systemctl is-active keepalived.service haproxy.service 2>/dev/null)',
    '[ "${active[0]:-}" = active ] && ka=1',
    '[ "${active[1]:-}" = active ] && hp=1',
    'addrs=$(ip -o -4 addr show 2>/dev/null)',
    '[[ $addrs == *" inet $VIP/"* ]] && held=1',
    'if [ -r "$STATE_FILE" ]; then',
    '  while IFS== read -r k v; do',
    '    case "$k=$v" in',
    '      changes=[0-9]*) changes=$v ;;',
    '      masters=[0-9]*) masters=$v ;;',
    '      since=[0-9]*) since=$v ;;',
    '      state=[A-Z]*) fstate=$v ;;',
    '    esac',
    '  done <"$STATE_FILE"',
    'fi',
    '[ $ka = 1 ] && state=$fstate',
    'case "$state" in MASTER|BACKUP|FAULT) ;; *) state=STOP ;; esac',
    'metric kha_keepalived_up gauge "1 when keepalived.service is active."',
    'echo "kha_keepalived_up{$L} $ka"',
    'metric kha_haproxy_up gauge "1 when haproxy.service is active."',
    'echo "kha_haproxy_up{$L} $hp"',
    'metric kha_vrrp_state gauge "VRRP state of this host (one series per state, 1 for the current one; STOP when keepalived does not run)."',
    'for s in MASTER BACKUP FAULT STOP; do',
    '  if [ "$s" = "$state" ]; then v=1; else v=0; fi',
    '  echo "kha_vrrp_state{$L,state=\\"$s\\"} $v"',
    'done',
    'metric kha_vrrp_vip_held gauge "1 when the VIP is on one of this host\'s interfaces."',
    'echo "kha_vrrp_vip_held{$L} $held"',
    'metric kha_vrrp_transitions_total counter "VRRP state changes of this host since boot."',
    'echo "kha_vrrp_transitions_total{$L} ${changes:-0}"',
    'metric kha_vrrp_became_master_total counter "Times this host became MASTER (took the VIP) since boot."',
    'echo "kha_vrrp_became_master_total{$L} ${masters:-0}"',
    'metric kha_vrrp_last_transition_timestamp_seconds gauge "Unix time of the last VRRP state change (0: none since boot)."',
    'echo "kha_vrrp_last_transition_timestamp_seconds{$L} ${since:-0}"',
    '',
    "# keepalived's dumps (when it runs) and the nftables table, read by one awk: src= names each input",
    'dumped=0',
    '[ $ka = 1 ] && dumps && dumped=1',
    'inputs=()',
    '[ $dumped = 1 ] && inputs=(src=D "$D" src=S "$S")',
    'nft_out=$(nft list table inet "$NFT_TABLE" 2>/dev/null)',
    'awk -v L="$L" -v inst="$INSTANCE" -v vrid="$VRID" \'',
    '  function sorted(set, out,   n, k, i, j, t) {',
    '    n = 0; for (k in set) out[++n] = k',
    '    for (i = 2; i <= n; i++) { t = out[i]; for (j = i - 1; j >= 1 && out[j] > t; j--) out[j + 1] = out[j]; out[j + 1] = t }',
    '    return n',
    '  }',
    '  function family(name, type, help) { print "# HELP " name " " help; print "# TYPE " name " " type }',
    '  FNR == 1 { mine = 0; adv = 0; script = ""; file = ""; inset = 0; incounter = 0 }',
    '  src == "D" && /^ VRRP Instance = / { mine = ($4 == inst) }',
    '  src == "D" && mine && /^   Priority = / { base = $3 }',
    '  src == "D" && mine && /^   Effective priority = / { eff = $4 }',
    '  src == "D" && /^------< / { mine = 0 }',
    '  src == "D" && /^ VRRP Script = / { script = $4 }',
    '  src == "D" && script != "" && /^   Status = / { checks[script] = ($3 == "GOOD") ? 1 : 0; script = "" }',
    '  src == "D" && /^ Track file = / { file = $4 }',
    '  src == "D" && file != "" && /^   Status = / { checks[file] = ($3 == 0) ? 1 : 0; file = "" }',
    '  src == "S" && /^VRRP Instance: / { mine = ($3 == inst) }',
    '  src == "S" && mine && /^  Advertisements:/ { adv = 1; next }',
    '  src == "S" && mine && adv && /^    Received: / { rx = $2 }',
    '  src == "S" && mine && adv && /^    Sent: / { tx = $2; adv = 0 }',
    '  src == "N" && /^[ \\t]*counter foreign_adverts / { incounter = 1 }',
    '  src == "N" && incounter { for (i = 1; i < NF; i++) if ($i == "packets") { foreign = $(i + 1); incounter = 0 } }',
    '  src == "N" && /^[ \\t]*set foreign_src / { inset = 1 }',
    '  src == "N" && inset { for (i = 1; i <= NF; i++) { a = $i; gsub(/[{},]/, "", a); if (a ~ /^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$/) srcs[a] = 1 } }',
    '  src == "N" && inset && /^[ \\t]*}[ \\t]*$/ { inset = 0 }',
    '  END {',
    '    if (base != "") { family("kha_vrrp_priority_base", "gauge", "Configured VRRP priority."); print "kha_vrrp_priority_base{" L "} " base }',
    '    if (eff != "") { family("kha_vrrp_priority_effective", "gauge", "VRRP priority now: the base plus the weights of failing checks."); print "kha_vrrp_priority_effective{" L "} " eff }',
    '    n = sorted(checks, c)',
    '    if (n) family("kha_vrrp_check_ok", "gauge", "1 when a check keepalived tracks passes (script or file), 0 when it fails.")',
    '    for (i = 1; i <= n; i++) print "kha_vrrp_check_ok{" L ",check=\\"" c[i] "\\"} " checks[c[i]]',
    '    if (rx != "") { family("kha_vrrp_adverts_received_total", "counter", "VRRP adverts keepalived received since it started."); print "kha_vrrp_adverts_received_total{" L "} " rx }',
    '    if (tx != "") { family("kha_vrrp_adverts_sent_total", "counter", "VRRP adverts keepalived sent since it started."); print "kha_vrrp_adverts_sent_total{" L "} " tx }',
    '    if (foreign != "") {',
    '      family("kha_vrrp_foreign_adverts_total", "counter", "VRRP adverts on kha\\047s VRID from addresses that are not kha\\047s load balancers (nftables counter).")',
    '      print "kha_vrrp_foreign_adverts_total{" L ",vrid=\\"" vrid "\\"} " foreign',
    '      n = sorted(srcs, f)',
    '      if (n) family("kha_vrrp_foreign_router", "gauge", "A foreign VRRP router seen on kha\\047s VRID in the last hour, by source address.")',
    '      for (i = 1; i <= n; i++) print "kha_vrrp_foreign_router{" L ",vrid=\\"" vrid "\\",source=\\"" f[i] "\\"} 1"',
    '    }',
    '  }\' "${inputs[@]}" src=N - <<<"$nft_out"',
    '# the data dump holds the VRRP password: never leave it behind; then let the next reader in',
    '[ -e "$D" ] || [ -e "$S" ] && rm -f "$D" "$S"',
    '[ -n "${LK:-}" ] && exec {LK}>&-',
    '',
    'if [ $hp = 1 ] && [ -S "$STATS_SOCKET" ]; then',
    "  perl -MIO::Socket::UNIX -e '",
    '    my ($sock, $backend) = @ARGV;',
    '    my $s = IO::Socket::UNIX->new(Peer => $sock) or exit 0;',
    '    print $s "show stat\\n";',
    '    my (@cols, @rows);',
    '    while (my $line = <$s>) {',
    '      chomp $line;',
    '      if ($line =~ s/^# //) { @cols = split /,/, $line; next }',
    '      next unless length $line;',
    '      my %r; @r{@cols} = split /,/, $line, -1;',
    '      push @rows, \\%r if $r{pxname} eq $backend && $r{svname} ne "BACKEND";',
    '    }',
    '    exit 0 unless @rows;',
    '    print "# HELP kha_haproxy_server_state State of each apiserver in haproxy (one series per state, 1 for the current one).\\n";',
    '    print "# TYPE kha_haproxy_server_state gauge\\n";',
    '    for my $r (@rows) {',
    '      (my $st = $r->{status}) =~ s/ .*//;',
    '      $st = "UP" if $st eq "no";',
    '      for my $k (qw(UP DOWN DRAIN MAINT NOLB)) {',
    '        printf "kha_haproxy_server_state{backend=\\"%s\\",server=\\"%s\\",state=\\"%s\\"} %d\\n", $backend, $r->{svname}, $k, $st eq $k ? 1 : 0;',
    '      }',
    '    }\' "$STATS_SOCKET" "$BACKEND"',
    'fi',
    'metric kha_exporter_collected_timestamp_seconds gauge "Unix time these metrics were collected (a scrape may be answered with a collection a few seconds old)."',
    'echo "kha_exporter_collected_timestamp_seconds{$L} $EPOCHSECONDS"',
  ]);
}

/**
 * kha-metrics-server.pl: the exporter's HTTP side, one long-lived process (perl with perl-base's
 * modules only). systemd starts it on the first scrape (kha-metrics.socket, Accept=no: the
 * listening socket is fd 3; `--listen ADDR:PORT` instead, for tests). GET /metrics starts a
 * collection (the collector, its first argument) unless one finished less than a second ago,
 * waits for it at most 2 s (half the scrape's timeout when Prometheus sends it), then answers
 * with the newest complete collection. So a scrape is answered in bounded time even when the
 * host is loaded, no process is started per connection, and nothing is collected between scrapes.
 * The first scrape waits for the first collection (up to the scrape's timeout); a collection that
 * runs for 30 s is killed.
 */
export function renderMetricsServer(): string {
  return joinLines([
    '#!/usr/bin/perl',
    MANAGED_HEADER,
    "# kha's VRRP exporter, the HTTP side: GET /metrics answers with the newest collection of the",
    '# collector (the first argument), started per scrape at most once a second and waited for at',
    '# most 2 s. Started by kha-metrics.socket (fd 3); --listen ADDR:PORT listens itself.',
    'use strict;',
    'use warnings;',
    'use Fcntl qw(F_GETFD F_SETFD FD_CLOEXEC);',
    'use IO::Select;',
    'use IO::Socket::INET;',
    'use POSIX ();',
    '',
    'my ($collector, $flag, $listen) = @ARGV;',
    'die "usage: kha-metrics-server.pl COLLECTOR [--listen ADDR:PORT]\\n" unless defined $collector && -x $collector;',
    'my $FRESH = 1;     # a collection younger than this (s) is served as it is',
    'my $WAIT = 2;      # the longest a scrape waits for a running collection (s)',
    'my $KILL = 30;     # a collection still running after this long (s) is killed',
    'my $HEAD = 8192;   # the longest request head read (bytes)',
    '',
    'my $srv;',
    "if (defined $flag && $flag eq '--listen' && defined $listen) {",
    '  $srv = IO::Socket::INET->new(LocalAddr => $listen, Listen => 16, ReuseAddr => 1) or die "kha-metrics: listen on $listen: $!\\n";',
    '} else {',
    '  die "kha-metrics: no listening socket from systemd (systemctl start kha-metrics.socket)\\n"',
    '    unless ($ENV{LISTEN_FDS} // 0) >= 1 && ($ENV{LISTEN_PID} // 0) == $$;',
    '  $srv = IO::Socket::INET->new_from_fd(3, \'r\') or die "kha-metrics: fd 3: $!\\n";',
    '  fcntl($srv, F_SETFD, FD_CLOEXEC);',
    '}',
    "$SIG{PIPE} = 'IGNORE';",
    '$SIG{TERM} = sub { exit 0 };',
    '',
    '# monotonic seconds, 10 ms resolution, no module beyond perl-base',
    'sub now {',
    "  open(my $f, '<', '/proc/uptime') or return time;",
    "  my ($t) = split ' ', (<$f> // '');",
    '  return $t // time;',
    '}',
    '',
    "my ($body, $at) = ('', -1e9);       # the newest complete collection, and when it ended",
    'my ($kid, $out, $buf, $since);       # the running collection: pid, its stdout, its output so far, its start',
    '',
    'sub collect_start {',
    '  return if defined $kid;',
    "  ($buf, $since) = ('', now());",
    "  $kid = open($out, '-|');",
    '  if (!defined $kid) { warn "kha-metrics: fork: $!\\n"; return }',
    '  if ($kid == 0) { exec { $collector } $collector or POSIX::_exit(127) }',
    '}',
    '',
    '# read the running collection for at most $wait s; true once it has ended ($body then holds it if it succeeded)',
    'sub collect_wait {',
    '  my ($wait) = @_;',
    '  return 1 unless defined $kid;',
    '  my $end = now() + $wait;',
    '  my $sel = IO::Select->new($out);',
    '  for (;;) {',
    "    kill 'KILL', $kid if now() - $since > $KILL;",
    '    my $left = $end - now();',
    '    return 0 if $left <= 0;',
    '    next unless $sel->can_read($left);',
    '    my $n = sysread($out, $buf, 65536, length $buf);',
    '    next if !defined $n && $!{EINTR};',
    '    next if $n;',
    '    close($out);',
    '    my $ok = $? == 0;',
    '    undef $kid;',
    '    ($body, $at) = ($buf, now()) if $ok && $buf =~ /\\n\\z/;',
    '    return 1;',
    '  }',
    '}',
    '',
    'sub reply {',
    '  my ($c, $status, $type, $text) = @_;',
    '  print $c "HTTP/1.1 $status\\r\\nContent-Type: $type\\r\\nContent-Length: " . length($text) . "\\r\\nConnection: close\\r\\n\\r\\n$text";',
    '}',
    '',
    'sub serve {',
    '  my ($c) = @_;',
    "  my $head = '';",
    '  my $sel = IO::Select->new($c);',
    '  my $end = now() + 5;',
    '  while ($head !~ /\\r?\\n\\r?\\n/ && length $head < $HEAD) {',
    '    my $left = $end - now();',
    '    return if $left <= 0 || !$sel->can_read($left);',
    '    my $n = sysread($c, $head, 4096, length $head);',
    '    return unless $n;',
    '  }',
    '  my ($method, $target) = $head =~ /\\A(\\S+) (\\S+)/;',
    "  ($target //= '') =~ s/\\?.*//s;",
    "  return reply($c, '404 Not Found', 'text/plain', \"kha: the metrics are at GET /metrics\\n\") unless ($method // '') eq 'GET' && $target eq '/metrics';",
    '  my ($budget) = $head =~ /^X-Prometheus-Scrape-Timeout-Seconds:[ \\t]*([0-9]+(?:\\.[0-9]+)?)/mi;',
    '  $budget //= 10;',
    '  collect_start() if now() - $at >= $FRESH;',
    '  collect_wait(length $body ? ($budget / 2 < $WAIT ? $budget / 2 : $WAIT) : $budget - 0.5);',
    "  return reply($c, '503 Service Unavailable', 'text/plain', \"kha: no metrics collected yet\\n\") unless length $body;",
    "  reply($c, '200 OK', 'text/plain; version=0.0.4; charset=utf-8', $body);",
    '}',
    '',
    'for (;;) {',
    '  my $c = $srv->accept or next;',
    '  serve($c);',
    '  close($c);',
    '}',
  ]);
}

/** kha-metrics.socket: the VRRP exporter's listening socket; the first connection starts kha-metrics.service. */
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
    '',
    '[Install]',
    'WantedBy=sockets.target',
  ]);
}

/** kha-metrics.service: the exporter's server, started by its socket and stopped or restarted with it. */
export function renderMetricsService(v: { server?: string; script?: string } = {}): string {
  const server = absPath('server', v.server ?? METRICS_SERVER_PATH);
  const script = absPath('script', v.script ?? METRICS_SCRIPT_PATH);
  return joinLines([
    MANAGED_HEADER,
    '[Unit]',
    "Description=kha VRRP metrics for Prometheus (kha's exporter, started by kha-metrics.socket)",
    `Requires=${METRICS_SOCKET_UNIT}`,
    `After=${METRICS_SOCKET_UNIT}`,
    `PartOf=${METRICS_SOCKET_UNIT}`,
    '',
    '[Service]',
    `ExecStart=/usr/bin/perl ${server} ${script}`,
    'Restart=on-failure',
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
