#!/bin/sh
# First boot: a self-signed certificate for the stand-in apiserver, named after this host.
# Like kubeadm's apiserver certificate it covers the host's own names and addresses only, unless
# $dir/extra-sans lists more (one line, openssl syntax: IP:10.0.0.100,DNS:api.example), which is
# what kubeadm's apiServer.certSANs adds. To reissue: write extra-sans, remove tls.crt, restart.
set -eu
dir=/etc/kha-standin
[ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ] && exit 0
host="$(hostname)"
san="DNS:$host,DNS:localhost,IP:127.0.0.1"
for a in $(hostname -I 2>/dev/null); do case "$a" in *:*) ;; *) san="$san,IP:$a" ;; esac; done
if [ -s "$dir/extra-sans" ]; then
  extra="$(tr -d ' \n' <"$dir/extra-sans")"
  case "$extra" in *[!A-Za-z0-9.:,_-]*) echo "extra-sans: unexpected characters" >&2; exit 1 ;; esac
  san="$san,$extra"
fi
umask 077
openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 3650 \
  -subj "/CN=$host" -addext "subjectAltName=$san" \
  -keyout "$dir/tls.key.tmp" -out "$dir/tls.crt.tmp" 2>/dev/null
mv "$dir/tls.key.tmp" "$dir/tls.key"
mv "$dir/tls.crt.tmp" "$dir/tls.crt"
