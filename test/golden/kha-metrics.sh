#!/bin/bash
# Managed by kha. Changes here are overwritten by the next kha run.
# kha's VRRP exporter, the collector: prints this host's kha_* metrics for Prometheus.
# kha-metrics-server.pl runs it for the scrapes (kha-metrics.socket); so does
# `kha status -o prometheus`. Needs root: it signals keepalived for its dumps.
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
D=/tmp/keepalived.data
S=/tmp/keepalived.stats

metric() { # name type help
  printf '# HELP %s %s\n# TYPE %s %s\n' "$1" "$3" "$1" "$2"
}

# sleep without a fork: a read that times out on a pipe nobody writes to
exec {NAP}<> <(:)
nap() { read -r -t "$1" -u "$NAP" _ || true; }

# fresh dumps from keepalived (SIGUSR1: data, SIGUSR2: stats, keepalived 1.x to 2.3): remove the
# old ones, signal once for both, wait (at most 1.5 s, no forks) until both are there; read only
# regular root-owned files that are not symlinks (/tmp is world-writable). One reader at a time:
# kha up's own check probe asks for the same dump, and each removes it after reading
dumps() {
  local pid end
  [ -r /run/keepalived.pid ] && read -r pid </run/keepalived.pid || return 1
  exec {LK}>/run/kha-keepalived-dump.lock && flock -w 3 "$LK" || return 1
  rm -f "$D" "$S"
  kill -USR1 "$pid" 2>/dev/null && kill -USR2 "$pid" 2>/dev/null || return 1
  end=$(( ${EPOCHREALTIME/./} + 1500000 ))
  until [ -s "$D" ] && [ -s "$S" ]; do
    [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
    nap 0.01
  done
  nap 0.02
  [ -f "$D" ] && [ ! -L "$D" ] && [ -O "$D" ] && [ -f "$S" ] && [ ! -L "$S" ] && [ -O "$S" ]
}

ka=0 hp=0 held=0 state=STOP fstate="" changes=0 masters=0 since=0
mapfile -t active < <(systemctl is-active keepalived.service haproxy.service 2>/dev/null)
[ "${active[0]:-}" = active ] && ka=1
[ "${active[1]:-}" = active ] && hp=1
addrs=$(ip -o -4 addr show 2>/dev/null)
[[ $addrs == *" inet $VIP/"* ]] && held=1
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
for s in MASTER BACKUP FAULT STOP; do
  if [ "$s" = "$state" ]; then v=1; else v=0; fi
  echo "kha_vrrp_state{$L,state=\"$s\"} $v"
done
metric kha_vrrp_vip_held gauge "1 when the VIP is on one of this host's interfaces."
echo "kha_vrrp_vip_held{$L} $held"
metric kha_vrrp_transitions_total counter "VRRP state changes of this host since boot."
echo "kha_vrrp_transitions_total{$L} ${changes:-0}"
metric kha_vrrp_became_master_total counter "Times this host became MASTER (took the VIP) since boot."
echo "kha_vrrp_became_master_total{$L} ${masters:-0}"
metric kha_vrrp_last_transition_timestamp_seconds gauge "Unix time of the last VRRP state change (0: none since boot)."
echo "kha_vrrp_last_transition_timestamp_seconds{$L} ${since:-0}"

# keepalived's dumps (when it runs) and the nftables table, read by one awk: src= names each input
dumped=0
[ $ka = 1 ] && dumps && dumped=1
inputs=()
[ $dumped = 1 ] && inputs=(src=D "$D" src=S "$S")
nft_out=$(nft list table inet "$NFT_TABLE" 2>/dev/null)
awk -v L="$L" -v inst="$INSTANCE" -v vrid="$VRID" '
  function sorted(set, out,   n, k, i, j, t) {
    n = 0; for (k in set) out[++n] = k
    for (i = 2; i <= n; i++) { t = out[i]; for (j = i - 1; j >= 1 && out[j] > t; j--) out[j + 1] = out[j]; out[j + 1] = t }
    return n
  }
  function family(name, type, help) { print "# HELP " name " " help; print "# TYPE " name " " type }
  FNR == 1 { mine = 0; adv = 0; script = ""; file = ""; inset = 0; incounter = 0 }
  src == "D" && /^ VRRP Instance = / { mine = ($4 == inst) }
  src == "D" && mine && /^   Priority = / { base = $3 }
  src == "D" && mine && /^   Effective priority = / { eff = $4 }
  src == "D" && /^------< / { mine = 0 }
  src == "D" && /^ VRRP Script = / { script = $4 }
  src == "D" && script != "" && /^   Status = / { checks[script] = ($3 == "GOOD") ? 1 : 0; script = "" }
  src == "D" && /^ Track file = / { file = $4 }
  src == "D" && file != "" && /^   Status = / { checks[file] = ($3 == 0) ? 1 : 0; file = "" }
  src == "S" && /^VRRP Instance: / { mine = ($3 == inst) }
  src == "S" && mine && /^  Advertisements:/ { adv = 1; next }
  src == "S" && mine && adv && /^    Received: / { rx = $2 }
  src == "S" && mine && adv && /^    Sent: / { tx = $2; adv = 0 }
  src == "N" && /^[ \t]*counter foreign_adverts / { incounter = 1 }
  src == "N" && incounter { for (i = 1; i < NF; i++) if ($i == "packets") { foreign = $(i + 1); incounter = 0 } }
  src == "N" && /^[ \t]*set foreign_src / { inset = 1 }
  src == "N" && inset { for (i = 1; i <= NF; i++) { a = $i; gsub(/[{},]/, "", a); if (a ~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/) srcs[a] = 1 } }
  src == "N" && inset && /^[ \t]*}[ \t]*$/ { inset = 0 }
  END {
    if (base != "") { family("kha_vrrp_priority_base", "gauge", "Configured VRRP priority."); print "kha_vrrp_priority_base{" L "} " base }
    if (eff != "") { family("kha_vrrp_priority_effective", "gauge", "VRRP priority now: the base plus the weights of failing checks."); print "kha_vrrp_priority_effective{" L "} " eff }
    n = sorted(checks, c)
    if (n) family("kha_vrrp_check_ok", "gauge", "1 when a check keepalived tracks passes (script or file), 0 when it fails.")
    for (i = 1; i <= n; i++) print "kha_vrrp_check_ok{" L ",check=\"" c[i] "\"} " checks[c[i]]
    if (rx != "") { family("kha_vrrp_adverts_received_total", "counter", "VRRP adverts keepalived received since it started."); print "kha_vrrp_adverts_received_total{" L "} " rx }
    if (tx != "") { family("kha_vrrp_adverts_sent_total", "counter", "VRRP adverts keepalived sent since it started."); print "kha_vrrp_adverts_sent_total{" L "} " tx }
    if (foreign != "") {
      family("kha_vrrp_foreign_adverts_total", "counter", "VRRP adverts on kha\047s VRID from addresses that are not kha\047s load balancers (nftables counter).")
      print "kha_vrrp_foreign_adverts_total{" L ",vrid=\"" vrid "\"} " foreign
      n = sorted(srcs, f)
      if (n) family("kha_vrrp_foreign_router", "gauge", "A foreign VRRP router seen on kha\047s VRID in the last hour, by source address.")
      for (i = 1; i <= n; i++) print "kha_vrrp_foreign_router{" L ",vrid=\"" vrid "\",source=\"" f[i] "\"} 1"
    }
  }' "${inputs[@]}" src=N - <<<"$nft_out"
# the data dump holds the VRRP password: never leave it behind; then let the next reader in
[ -e "$D" ] || [ -e "$S" ] && rm -f "$D" "$S"
[ -n "${LK:-}" ] && exec {LK}>&-

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
metric kha_exporter_collected_timestamp_seconds gauge "Unix time these metrics were collected (a scrape may be answered with a collection a few seconds old)."
echo "kha_exporter_collected_timestamp_seconds{$L} $EPOCHSECONDS"
