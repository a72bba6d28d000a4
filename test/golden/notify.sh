#!/bin/sh
# Managed by kha. Changes here are overwritten by the next kha run.
# keepalived's vrrp_notify_fifo reader: one line per VRRP transition, in order, e.g.
#   INSTANCE "VI_KHA" MASTER 150
# Records keepalived's own view of this host for `kha status`. The FIFO is the last argument.
set -uf
for fifo in "$@"; do :; done
[ -p "${fifo:-}" ] || { echo "kha-notify: ${fifo:-no argument}: not a FIFO" >&2; exit 1; }
state_file=/run/keepalived-kha.state
tmp="$state_file.$$"
umask 022
changes=$(sed -n "s/^changes=\([0-9][0-9]*\)$/\1/p" "$state_file" 2>/dev/null)
changes=${changes:-0}
masters=$(sed -n "s/^masters=\([0-9][0-9]*\)$/\1/p" "$state_file" 2>/dev/null)
masters=${masters:-0}
# keepalived holds the FIFO open while it runs; reopen it if it closes, stop once it is gone
while [ -p "$fifo" ]; do
  while IFS=' ' read -r kind name state priority rest; do
    [ "$kind" = INSTANCE ] || continue
    case "$state" in
      MASTER|BACKUP|FAULT|STOP|DELETED) ;;
      *) continue ;;
    esac
    name=${name#\"}
    name=${name%\"}
    changes=$((changes + 1))
    [ "$state" = MASTER ] && masters=$((masters + 1))
    printf 'state=%s\ninstance=%s\npriority=%s\nsince=%s\nchanges=%s\nmasters=%s\n' "$state" "$name" "$priority" "$(date +%s)" "$changes" "$masters" >"$tmp" &&
      mv -f "$tmp" "$state_file"
  done <"$fifo"
done
