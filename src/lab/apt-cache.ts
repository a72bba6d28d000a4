// The shared apt archive seed (LabUpOptions.aptCache): copied into a host at boot, copied back at
// down(). Write to temp + rename, so concurrent labs never see half a file.
import { APT_SEED_MOUNT } from './types.js';

export const SEED_IN = `set -e
seed=${APT_SEED_MOUNT}
[ -d "$seed/archives" ] && find "$seed/archives" -maxdepth 1 -name '*.deb' -exec cp -n -t /var/cache/apt/archives/ {} + || true
if [ -d "$seed/lists" ] && ! ls /var/lib/apt/lists/*_InRelease >/dev/null 2>&1; then
  find "$seed/lists" -maxdepth 1 -type f -exec cp -n -t /var/lib/apt/lists/ {} + || true
fi`;

export const SEED_OUT = `set -e
seed=${APT_SEED_MOUNT}
mkdir -p "$seed/archives" "$seed/lists"
for f in /var/cache/apt/archives/*.deb; do
  [ -e "$f" ] || continue; b=$(basename "$f")
  [ -e "$seed/archives/$b" ] || { cp "$f" "$seed/archives/.$b.$$" && mv -f "$seed/archives/.$b.$$" "$seed/archives/$b"; }
done
for f in /var/lib/apt/lists/*; do
  [ -f "$f" ] || continue; b=$(basename "$f"); [ "$b" = lock ] && continue
  cp "$f" "$seed/lists/.$b.$$" && mv -f "$seed/lists/.$b.$$" "$seed/lists/$b"
done`;
