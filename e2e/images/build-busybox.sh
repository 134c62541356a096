#!/usr/bin/env bash
# Builds a busybox image locally (no registry is reachable here) from Debian's busybox-static:
#   OUT/busybox-oci/          OCI layout, tag "latest" (for kata-run --image)
#   OUT/busybox.tar           docker-archive named docker.io/library/busybox:latest (ctr import)
# Usage: build-busybox.sh OUT_DIR
set -euo pipefail
out=${1:?usage: build-busybox.sh OUT_DIR}
mkdir -p "$out"
if [ -f "$out/busybox.tar" ] && [ "$out/busybox.tar" -nt /bin/busybox ] && [ "$out/busybox.tar" -nt "$0" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layout="$work/oci"
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --rootless --image "$layout:latest" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
umoci repack --image "$layout:latest" "$work/bundle" >/dev/null
umoci config --image "$layout:latest" --config.cmd sh --config.env PATH=/bin >/dev/null
umoci gc --layout "$layout"
rm -rf "$out/busybox-oci" "$out/busybox.tar"
cp -r "$layout" "$out/busybox-oci"
skopeo copy --quiet "oci:$layout:latest" "docker-archive:$out/busybox.tar:docker.io/library/busybox:latest"
echo "images: busybox at $out/busybox-oci and $out/busybox.tar" >&2
