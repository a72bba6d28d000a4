#!/bin/sh
# Managed by kha. Changes here are overwritten by the next kha run.
# keepalived notify: $1=INSTANCE|GROUP $2=name $3=MASTER|BACKUP|FAULT|STOP|DELETED $4=priority
# Records keepalived's own view of this host for `kha status`.
set -u
[ "${1:-}" = INSTANCE ] || exit 0
case "${3:-}" in
  MASTER|BACKUP|FAULT|STOP|DELETED) ;;
  *) exit 0 ;;
esac
state_file=/run/keepalived-kha.state
tmp="$state_file.$$"
umask 022
printf 'state=%s\ninstance=%s\npriority=%s\nsince=%s\n' "$3" "$2" "${4:-}" "$(date +%s)" >"$tmp" &&
  mv -f "$tmp" "$state_file"
