#!/bin/bash
# Managed by kha. Changes here are overwritten by the next kha run.
# kha's VRRP exporter: the kha_* metrics of this host for Prometheus. `kha-metrics.sh http`
# answers one HTTP request on stdin/stdout (kha-metrics.socket, one process per scrape);
# without an argument it prints the metrics. Needs root: it signals keepalived for its dumps.
set -uf
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
VIP=192.168.50.100
VRID=51
INSTANCE=VI_KHA
STATE_FILE=/run/keepalived-kha.state
STATS_SOCKET=/run/haproxy/admin.sock
BACKEND=kube-apiservers
NFT_TABLE=kha_vrrp
L="vip=\"$VIP\""

metric() { # name type help
  printf '# HELP %s %s\n# TYPE %s %s\n' "$1" "$3" "$1" "$2"
}

# fresh dumps from keepalived (SIGUSR1: data, SIGUSR2: stats, keepalived 1.x to 2.3): remove the
# old ones, signal once for both, wait (at most 1.5 s, shell builtins only) until both are there;
# read only regular root-owned files that are not symlinks (/tmp is world-writable)
D=/tmp/keepalived.data
S=/tmp/keepalived.stats
dumps() {
  local pid end
  [ -r /run/keepalived.pid ] || return 1
  pid=$(</run/keepalived.pid)
  rm -f "$D" "$S"
  kill -USR1 "$pid" 2>/dev/null && kill -USR2 "$pid" 2>/dev/null || return 1
  end=$(( ${EPOCHREALTIME/./} + 1500000 ))
  until [ -s "$D" ] && [ -s "$S" ]; do
    [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
    sleep 0.01
  done
  sleep 0.02
  [ -f "$D" ] && [ ! -L "$D" ] && [ -O "$D" ] && [ -f "$S" ] && [ ! -L "$S" ] && [ -O "$S" ]
}

metrics() {
  local ka=0 hp=0 held=0 state=STOP s base="" eff="" changes=0 masters=0 since=0
  systemctl is-active --quiet keepalived.service && ka=1
  systemctl is-active --quiet haproxy.service && hp=1
  ip -o -4 addr show | grep -qF " inet $VIP/" && held=1
  local k v fstate=""
  if [ -r "$STATE_FILE" ]; then
    while IFS== read -r k v; do
      case "$k=$v" in
        changes=[0-9]*) changes=$v ;;
        masters=[0-9]*) masters=$v ;;
        since=[0-9]*) since=$v ;;
        state=[A-Z]*) fstate=$v ;;
      esac
    done <"$STATE_FILE"
  fi
  [ $ka = 1 ] && state=$fstate
  case "$state" in MASTER|BACKUP|FAULT) ;; *) state=STOP ;; esac
  metric kha_keepalived_up gauge "1 when keepalived.service is active."
  echo "kha_keepalived_up{$L} $ka"
  metric kha_haproxy_up gauge "1 when haproxy.service is active."
  echo "kha_haproxy_up{$L} $hp"
  metric kha_vrrp_state gauge "VRRP state of this host (one series per state, 1 for the current one; STOP when keepalived does not run)."
  for s in MASTER BACKUP FAULT STOP; do echo "kha_vrrp_state{$L,state=\"$s\"} $([ $s = "$state" ] && echo 1 || echo 0)"; done
  metric kha_vrrp_vip_held gauge "1 when the VIP is on one of this host's interfaces."
  echo "kha_vrrp_vip_held{$L} $held"
  metric kha_vrrp_transitions_total counter "VRRP state changes of this host since boot."
  echo "kha_vrrp_transitions_total{$L} ${changes:-0}"
  metric kha_vrrp_became_master_total counter "Times this host became MASTER (took the VIP) since boot."
  echo "kha_vrrp_became_master_total{$L} ${masters:-0}"
  metric kha_vrrp_last_transition_timestamp_seconds gauge "Unix time of the last VRRP state change (0: none since boot)."
  echo "kha_vrrp_last_transition_timestamp_seconds{$L} ${since:-0}"
  local dumped=0
  [ $ka = 1 ] && dumps && dumped=1
  if [ $dumped = 1 ]; then
    awk -v L="$L" -v inst="$INSTANCE" '
      /^ VRRP Instance = / { mine = ($4 == inst) }
      mine && /^   Priority = / { base = $3 }
      mine && /^   Effective priority = / { eff = $4 }
      /^------< / { mine = 0; section = $0 }
      /^ VRRP Script = / { script = $4 }
      script != "" && /^   Status = / { checks[script] = ($3 == "GOOD") ? 1 : 0; script = "" }
      /^ Track file = / { file = $4 }
      file != "" && /^   Status = / { checks[file] = ($3 == 0) ? 1 : 0; file = "" }
      END {
        if (base != "") { print "# HELP kha_vrrp_priority_base Configured VRRP priority."; print "# TYPE kha_vrrp_priority_base gauge"; print "kha_vrrp_priority_base{" L "} " base }
        if (eff != "") { print "# HELP kha_vrrp_priority_effective VRRP priority now: the base plus the weights of failing checks."; print "# TYPE kha_vrrp_priority_effective gauge"; print "kha_vrrp_priority_effective{" L "} " eff }
        n = 0; for (c in checks) n++
        if (n) { print "# HELP kha_vrrp_check_ok 1 when a check keepalived tracks passes (script or file), 0 when it fails."; print "# TYPE kha_vrrp_check_ok gauge" }
        for (c in checks) print "kha_vrrp_check_ok{" L ",check=\"" c "\"} " checks[c]
      }' "$D"
  fi
  if [ $dumped = 1 ]; then
    awk -v L="$L" -v inst="$INSTANCE" '
      /^VRRP Instance: / { mine = ($3 == inst) }
      mine && /^  Advertisements:/ { adv = 1; next }
      mine && adv && /^    Received: / { rx = $2 }
      mine && adv && /^    Sent: / { tx = $2; adv = 0 }
      END {
        if (rx != "") { print "# HELP kha_vrrp_adverts_received_total VRRP adverts keepalived received since it started."; print "# TYPE kha_vrrp_adverts_received_total counter"; print "kha_vrrp_adverts_received_total{" L "} " rx }
        if (tx != "") { print "# HELP kha_vrrp_adverts_sent_total VRRP adverts keepalived sent since it started."; print "# TYPE kha_vrrp_adverts_sent_total counter"; print "kha_vrrp_adverts_sent_total{" L "} " tx }
      }' "$S"
  fi
  # the data dump holds the VRRP password: never leave it behind
  rm -f "$D" "$S"
  local foreign
  foreign=$(nft list counter inet "$NFT_TABLE" foreign_adverts 2>/dev/null | sed -n "s/^[[:space:]]*packets \([0-9][0-9]*\) .*/\1/p")
  if [ -n "$foreign" ]; then
    metric kha_vrrp_foreign_adverts_total counter "VRRP adverts on kha's VRID from addresses that are not kha's load balancers (nftables counter)."
    echo "kha_vrrp_foreign_adverts_total{$L,vrid=\"$VRID\"} $foreign"
    local src
    src=$(nft list set inet "$NFT_TABLE" foreign_src 2>/dev/null | grep -oE "([0-9]{1,3}\.){3}[0-9]{1,3}" | sort -u)
    if [ -n "$src" ]; then
      metric kha_vrrp_foreign_router gauge "A foreign VRRP router seen on kha's VRID in the last hour, by source address."
      for s in $src; do echo "kha_vrrp_foreign_router{$L,vrid=\"$VRID\",source=\"$s\"} 1"; done
    fi
  fi
  if [ $hp = 1 ] && [ -S "$STATS_SOCKET" ]; then
    perl -MIO::Socket::UNIX -e '
      my ($sock, $backend) = @ARGV;
      my $s = IO::Socket::UNIX->new(Peer => $sock) or exit 0;
      print $s "show stat\n";
      my (@cols, @rows);
      while (my $line = <$s>) {
        chomp $line;
        if ($line =~ s/^# //) { @cols = split /,/, $line; next }
        next unless length $line;
        my %r; @r{@cols} = split /,/, $line, -1;
        push @rows, \%r if $r{pxname} eq $backend && $r{svname} ne "BACKEND";
      }
      exit 0 unless @rows;
      print "# HELP kha_haproxy_server_state State of each apiserver in haproxy (one series per state, 1 for the current one).\n";
      print "# TYPE kha_haproxy_server_state gauge\n";
      for my $r (@rows) {
        (my $st = $r->{status}) =~ s/ .*//;
        $st = "UP" if $st eq "no";
        for my $k (qw(UP DOWN DRAIN MAINT NOLB)) {
          printf "kha_haproxy_server_state{backend=\"%s\",server=\"%s\",state=\"%s\"} %d\n", $backend, $r->{svname}, $k, $st eq $k ? 1 : 0;
        }
      }' "$STATS_SOCKET" "$BACKEND"
  fi
}

if [ "${1:-}" != http ]; then
  metrics
  exit 0
fi
# one HTTP request: the request line, then headers until an empty line (bounded in lines and time)
IFS= read -r -t 5 request || exit 0
n=0
while [ $n -lt 100 ] && IFS= read -r -t 5 line; do
  line=${line%$'\r'}
  [ -z "$line" ] && break
  n=$((n + 1))
done
set -- $request
if [ "${1:-}" = GET ] && [ "${2%%\?*}" = /metrics ]; then
  body=$(metrics)
  body="$body"$'\n'
  printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "${#body}" "$body"
else
  body=$'kha: the metrics are at GET /metrics\n'
  printf 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "${#body}" "$body"
fi
