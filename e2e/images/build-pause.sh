#!/usr/bin/env bash
# Builds the pod sandbox ("pause") image locally from pause.c:
#   OUT/pause.tar   docker-archive named localhost/kata-pause:latest (ctr -n k8s.io images import)
# Usage: build-pause.sh OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-pause.sh OUT_DIR}
mkdir -p "$out"
if [ -f "$out/pause.tar" ] && [ "$out/pause.tar" -nt "$here/pause.c" ] && [ "$out/pause.tar" -nt "$0" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layout="$work/oci"
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --rootless --image "$layout:latest" "$work/bundle" >/dev/null
gcc -Os -static -o "$work/bundle/rootfs/pause" "$here/pause.c"
strip "$work/bundle/rootfs/pause"
umoci repack --image "$layout:latest" "$work/bundle" >/dev/null
umoci config --image "$layout:latest" --config.entrypoint /pause >/dev/null
umoci gc --layout "$layout"
skopeo copy --quiet "oci:$layout:latest" "docker-archive:$out/pause.tar:localhost/kata-pause:latest"
echo "images: pause at $out/pause.tar" >&2
