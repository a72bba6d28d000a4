#!/usr/bin/env bash
# Builds the kha test host image (systemd + sshd + stand-in kube-apiserver), tagged $KHA_IMAGE
# (default kha-host:1). Where a registry answers, FROM debian:bookworm; where it does not (no
# registry on CI machines), FROM a debootstrap'd bookworm rootfs imported as kha-base:bookworm.
# Idempotent: exits at once when the image exists AND carries the hash of this directory's
# content (label kha.image.hash); rebuilds when docker/* changed, or always with --force.
# --ready also builds $KHA_READY_IMAGE (default kha-host-ready:1): the same host with keepalived and
# haproxy preinstalled (docker/ready.Dockerfile), for the integration tests that are not about
# installing. CI builds both (.ci/run); `kha lab up` needs only the plain one.
# --release bullseye|bookworm|trixie (default bookworm) builds the same host on Debian 11, 12 or 13,
# tagged kha-host:<release> (kha-host-ready:<release> with --ready); bookworm keeps kha-host:1.
# Adding a release is one word in RELEASES (the Dockerfile installs only what the base lacks).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
RELEASES="bullseye bookworm trixie"
PKGS="systemd,systemd-sysv,dbus,openssh-server,iproute2,sudo,procps,ca-certificates,python3,psmisc,openssl,nftables,curl"
force=0
ready=0
release=bookworm
usage() { echo "usage: build-image.sh [--force] [--ready] [--release $(echo $RELEASES | tr ' ' '|')]" >&2; exit 4; }
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1 ;;
    --ready) ready=1 ;;
    --release) [ $# -ge 2 ] || usage; release="$2"; shift ;;
    --release=*) release="${1#--release=}" ;;
    *) usage ;;
  esac
  shift
done
case " $RELEASES " in *" $release "*) ;; *) echo "build-image.sh: no release '$release' (one of: $RELEASES)" >&2; exit 4 ;; esac
if [ "$release" = bookworm ]; then
  IMAGE="${KHA_IMAGE:-kha-host:1}"
  READY_IMAGE="${KHA_READY_IMAGE:-kha-host-ready:1}"
else
  IMAGE="kha-host:$release"
  READY_IMAGE="kha-host-ready:$release"
fi
BASE_IMAGE="${KHA_BASE_IMAGE:-kha-base:$release}"
[ "$release" = bookworm ] || BASE_IMAGE="kha-base:$release"

# One build at a time on this machine (tests and `kha lab up` may call this concurrently).
exec 9>"${TMPDIR:-/tmp}/kha-build-image.lock"
flock 9

hash="$(cd "$here" && find . -type f ! -name '*.swp' ! -name '*~' -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16)"
label() { docker image inspect -f '{{index .Config.Labels "kha.image.hash"}}' "$1" 2>/dev/null || true; }

# The preinstalled image, FROM the current plain one (built below first when that is stale).
build_ready() {
  [ "$ready" = 1 ] || return 0
  if [ "$force" = 0 ] && [ "$(label "$READY_IMAGE")" = "$hash" ]; then
    echo "image $READY_IMAGE present (docker/ hash $hash)"; return 0
  fi
  local old start out
  old="$(docker image inspect -f '{{.Id}}' "$READY_IMAGE" 2>/dev/null || true)"
  start=$(date +%s)
  if ! out="$(DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" docker build ${KHA_BUILD_NO_CACHE:+--no-cache} \
      -f "$here/ready.Dockerfile" --build-arg BASE="$IMAGE" \
      --label kha.image.hash="$hash" -t "$READY_IMAGE" "$here" 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "docker build of $READY_IMAGE from $IMAGE failed" >&2
    exit 1
  fi
  local new; new="$(docker image inspect -f '{{.Id}}' "$READY_IMAGE")"
  [ -n "$old" ] && [ "$old" != "$new" ] && { docker rmi "$old" >/dev/null 2>&1 || true; }
  echo "built $READY_IMAGE from $IMAGE in $(( $(date +%s) - start )) s (docker/ hash $hash)"
}

have="$(label "$IMAGE")"
if [ "$force" = 0 ] && [ "$have" = "$hash" ]; then
  echo "image $IMAGE present (docker/ hash $hash)"; build_ready; exit 0
fi
[ -n "$have" ] && [ "$force" = 0 ] && echo "image $IMAGE is stale (hash $have, docker/ now $hash): rebuilding"

base="debian:$release"
if ! docker image inspect "$base" >/dev/null 2>&1 && ! timeout 60 docker pull -q "$base" >/dev/null 2>&1; then
  base="$BASE_IMAGE"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }
    root="$(mktemp -d /var/tmp/kha-rootfs.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    echo "no registry: building $base with debootstrap in $root (about a minute)"
    log="$(mktemp /tmp/kha-debootstrap.XXXXXX.log)"
    debootstrap --variant=minbase --include="$PKGS" "$release" "$root" http://deb.debian.org/debian >"$log" 2>&1 \
      || { tail -20 "$log" >&2; echo "debootstrap failed (full log: $log)" >&2; exit 1; }
    rm -f "$log"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | docker import -c 'CMD ["/sbin/init"]' - "$base" >/dev/null
  fi
fi
old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
start=$(date +%s)
# The legacy builder (what the machine's engine answers; it never pulls a base present locally).
# Its deprecation notice is noise: show the builder's output only when the build fails.
if ! out="$(DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" docker build ${KHA_BUILD_NO_CACHE:+--no-cache} \
    --build-arg BASE="$base" --build-arg PKGS="${PKGS//,/ }" \
    --label kha.image.hash="$hash" -t "$IMAGE" "$here" 2>&1)"; then
  printf '%s\n' "$out" >&2
  echo "docker build of $IMAGE from $base failed" >&2
  exit 1
fi
new_id="$(docker image inspect -f '{{.Id}}' "$IMAGE")"
# drop the superseded image (kept if a container still uses it)
[ -n "$old_id" ] && [ "$old_id" != "$new_id" ] && { docker rmi "$old_id" >/dev/null 2>&1 || true; }
echo "built $IMAGE from $base in $(( $(date +%s) - start )) s (docker/ hash $hash)"
build_ready
