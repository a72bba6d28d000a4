#!/usr/bin/env bash
# npm run demo: the main job on a local default. Brings up a Docker engine if needed, a lab of 3
# systemd+sshd containers, makes it HA with kha up, shows kha status, proves a failover with
# kha drill, and leaves the lab running.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }

say "Docker engine"
bash scripts/ensure-docker.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build
bash docker/build-image.sh

kha() { node bin/run.js "$@"; }
if docker ps -a --filter label=kha.lab=lab -q | grep -q .; then
  say "Removing the previous demo lab"
  kha lab down --name lab
fi
say "kha lab up: 3 masters with a stand-in kube-apiserver on 6443"
kha lab up --name lab --masters 3 -o inventory/lab.yaml
say "kha up -i inventory/lab.yaml"
kha up -i inventory/lab.yaml --yes
say "kha up again: a converged cluster changes nothing"
kha up -i inventory/lab.yaml --yes | tail -n 6
say "kha status"
kha status -i inventory/lab.yaml
say "kha drill: stop keepalived on the VIP holder, measure the failover, restore"
kha drill -i inventory/lab.yaml --mode keepalived --yes
say "kha drill --mode haproxy: haproxy stops, keepalived must hand the VIP over at once"
kha drill -i inventory/lab.yaml --mode haproxy --yes
say "kha status after the drills"
kha status -i inventory/lab.yaml
printf '\nThe lab is still running (inventory/lab.yaml). Remove it with: node bin/run.js lab down --name lab\n'
