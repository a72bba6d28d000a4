#!/bin/sh
# Managed by kha. Changes here are overwritten by the next kha run.
# keepalived vrrp_script: exit 0 only when the LOCAL kube-apiserver answers 200 on its
# health path. Needs curl. -k: 127.0.0.1 is often not in the serving certificate.
command -v curl >/dev/null 2>&1 || exit 1
code=$(curl -sk --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' https://127.0.0.1:6443/readyz) || exit 1
[ "$code" = 200 ]
