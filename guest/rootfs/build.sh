#!/usr/bin/env bash
# Builds the guest's initramfs OUT_DIR/rootfs.cpio.gz: the agent as /init, crun with exactly the
# shared libraries ldd lists, minimal /etc. No shell unless DEBUG=1 (adds busybox-static as
# /bin/sh; for debugging only, never for a release).
# Reproducible: fixed order, owners and mtimes (SOURCE_DATE_EPOCH), gzip -n. Skipped when the
# inputs are unchanged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
DEBUG=${DEBUG:-0}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}
MAX_BYTES=$((20 * 1024 * 1024))
CRUN=${CRUN:-/usr/bin/crun}
BUSYBOX=/bin/busybox

# The agent (quick when it is up to date).
bash "$here/../agent/build.sh" "$out"
agent="$out/kata-agent"
[ -x "$CRUN" ] || { echo "rootfs: $CRUN is missing (Debian: crun); run 'make setup'" >&2; exit 1; }

# Shared libraries crun needs, as ldd resolves them (the path crun asks for, and the file).
mapfile -t libs < <(ldd "$CRUN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | LC_ALL=C sort -u)
[ ${#libs[@]} -gt 0 ] || { echo "rootfs: ldd found no libraries for $CRUN" >&2; exit 1; }

inputs=("$agent" "$CRUN" "${libs[@]}" "$here/build.sh")
[ "$DEBUG" = 1 ] && inputs+=("$BUSYBOX")
key=$( { echo "DEBUG=$DEBUG SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH root=$(id -u)"; printf '%s\n' "${libs[@]}";
         for f in "${inputs[@]}"; do sha256sum < "$f"; done; } | sha256sum | cut -c1-32)
target="$out/rootfs.cpio.gz"
if [ -f "$target" ] && [ "$(cat "$target.key" 2>/dev/null)" = "$key" ]; then
  exit 0
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/kata-rootfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cd "$stage"
# Merged /usr, as on Debian: the paths ldd prints resolve the same way.
mkdir -p usr/bin usr/sbin usr/lib/x86_64-linux-gnu usr/lib64 \
  dev proc sys run tmp etc root var
ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64
chmod 1777 tmp; chmod 0700 root

install -m 0755 "$agent" init
install -m 0755 "$CRUN" usr/bin/crun
for l in "${libs[@]}"; do
  mkdir -p ".$(dirname "$l")"
  cp -L "$l" ".$l"
  chmod 0755 ".$l"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > etc/passwd
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > etc/group
chmod 0644 etc/passwd etc/group
# What Health reports as the OCI runtime, without starting crun in the guest.
mkdir -p etc/kata
"$CRUN" --version | head -n1 > etc/kata/oci-runtime
chmod 0644 etc/kata/oci-runtime
# The kernel opens /dev/console for init before devtmpfs is mounted.
if [ "$(id -u)" -eq 0 ]; then
  mknod -m 0600 dev/console c 5 1
else
  echo "rootfs: not root, no /dev/console node (the agent reopens the console itself)" >&2
fi
if [ "$DEBUG" = 1 ]; then
  echo "rootfs: DEBUG=1: adding busybox as /bin/sh (not for release)" >&2
  install -m 0755 "$BUSYBOX" usr/bin/busybox
  ln -s busybox usr/bin/sh
fi

find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort \
  | cpio --quiet -o -H newc --reproducible --owner=0:0 \
  | gzip -n -9 > "$target.tmp"
size=$(stat -c %s "$target.tmp")
if [ "$size" -gt "$MAX_BYTES" ]; then
  echo "rootfs: $size bytes is over the limit of $MAX_BYTES" >&2
  rm -f "$target.tmp"; exit 1
fi
mv "$target.tmp" "$target"
echo "$key" > "$target.key"
echo "rootfs: $target: $size bytes ($(( (size + 1023) / 1024 )) KiB), sha256 $(sha256sum < "$target" | cut -c1-16)" >&2
