#!/usr/bin/env bash
# Makes sure promtool and prometheus are on this machine: the unit tests check kha's alert rules
# with promtool (check rules, test rules), and integration tests scrape kha's exporters with a real
# Prometheus. When either is missing: installs Debian's prometheus package (it carries both), with
# apt-get update first only when the install fails without it. Used by .ci/run. Needs root when it
# has to install.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(promtool)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "ensure-prometheus: ${missing[*]} missing: installing Debian's prometheus package"
export DEBIAN_FRONTEND=noninteractive
install_prometheus() { apt-get install -y -q --no-install-recommends prometheus; }
if ! install_prometheus; then
  echo "ensure-prometheus: install failed; apt-get update, then once more"
  apt-get update -q
  install_prometheus
fi

for tool in promtool prometheus; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "ensure-prometheus: FAILED: $tool is still missing after installing the prometheus package" >&2
    exit 1
  fi
done
echo "ensure-prometheus: $(promtool --version 2>&1 | head -1)"
