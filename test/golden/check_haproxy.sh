#!/bin/bash
# Managed by kha. Changes here are overwritten by the next kha run.
# keepalived vrrp_script: exit 0 only when the LOCAL haproxy answers its monitor URI with
# 200 (haproxy runs and serves; apiserver health is haproxy's job). Asks haproxy itself over bash
# /dev/tcp: pidof is broken as a vrrp_script on Debian, and curl/socat may be missing.
set -u
probe='exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf "GET %s HTTP/1.0\r\n\r\n" "$2" >&3 || exit 1
IFS= read -r line <&3 || exit 1
printf "%s\n" "$line"'
status=$(timeout 2 bash -c "$probe" kha-probe 8404 /healthz 2>/dev/null) || exit 1
case $status in
  'HTTP/1.'[01]' 200'*) exit 0 ;;
esac
exit 1
