#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine. If `docker info` fails: installs docker.io
# and debootstrap with apt when missing, removes a stale /var/run/docker.pid when no dockerd runs
# (a killed session leaves one behind), starts dockerd in the background and waits for it.
# Used by .ci/run and `npm run demo`. Needs root when it has to install or start the engine.
set -euo pipefail
TIMEOUT="${KHA_DOCKER_TIMEOUT:-60}"

# Every systemd container holds a few inotify instances, and the kernel's default of 128 per user
# is spent by about 25 containers (the 20-host load test next to another lab). After that,
# systemd in a new container hangs in "initializing" ("Failed to create inotify object: Too many
# open files"). Raise the limit when it is low and this is root; otherwise say so.
want_inotify=1024
have_inotify=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo "$want_inotify")
if [ "$have_inotify" -lt "$want_inotify" ]; then
  if echo "$want_inotify" >/proc/sys/fs/inotify/max_user_instances 2>/dev/null; then
    echo "ensure-docker: fs.inotify.max_user_instances $have_inotify -> $want_inotify (systemd containers)"
  else
    echo "ensure-docker: warning: fs.inotify.max_user_instances is $have_inotify; large labs need $want_inotify (sysctl -w fs.inotify.max_user_instances=$want_inotify as root)" >&2
  fi
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  echo "ensure-docker: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q $(printf '%s\n' "${need[@]}" | sort -u)
fi

dockerd_running() {
  if command -v pgrep >/dev/null 2>&1; then pgrep -x dockerd >/dev/null 2>&1; return; fi
  local c
  for c in /proc/[0-9]*/comm; do [ "$(cat "$c" 2>/dev/null)" = dockerd ] && return 0; done
  return 1
}

if ! dockerd_running; then
  if [ -e /var/run/docker.pid ]; then
    echo "ensure-docker: removing stale /var/run/docker.pid (pid $(cat /var/run/docker.pid 2>/dev/null || echo '?') is not running)"
    rm -f /var/run/docker.pid
  fi
  echo "ensure-docker: starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi

deadline=$(( $(date +%s) + TIMEOUT ))
until docker info >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "ensure-docker: FAILED: no Docker engine answered 'docker info' within ${TIMEOUT} s" >&2
    echo "--- last lines of /var/log/dockerd.log ---" >&2
    tail -30 /var/log/dockerd.log >&2 || true
    exit 1
  fi
  sleep 1
done
echo "ensure-docker: engine $(docker version --format '{{.Server.Version}}' 2>/dev/null) answers"
