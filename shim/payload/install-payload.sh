#!/usr/bin/env bash
# Installs a built payload tree under PREFIX (default /opt/kata): copies the version, makes the
# shim's AOT cache on this node (it records the JRE and jar paths, so it is made where it runs),
# then switches PREFIX/current atomically. Names: the payload's own payload-layout.env.
# Usage: install-payload.sh PAYLOAD PREFIX
set -euo pipefail
src=${1:?PAYLOAD}; prefix=${2:-}
. "$src/current/payload-layout.env"
prefix=${prefix:-$KATA_PREFIX}
version=$(cat "$src/$KATA_CURRENT_LINK/$KATA_VERSION_FILE")
dst="$prefix/$KATA_VERSIONS_DIR/$version"
mkdir -p "$prefix/$KATA_VERSIONS_DIR" "$prefix/$KATA_BIN_DIR"
rm -rf "$dst.tmp" && cp -a "$src/$KATA_VERSIONS_DIR/$version" "$dst.tmp"
# Training run for the AOT cache, with the launcher's JVM options: `-info` loads protobuf and the
# shim's entry classes.
lib="$dst.tmp/$KATA_LIB_DIR"
"$dst.tmp/$KATA_JRE_DIR/bin/java" -XX:AOTCacheOutput="$lib/$KATA_AOT_CACHE" @"$lib/$KATA_JVM_OPTIONS" \
  -cp "$lib/*" "$KATA_SHIM_MAIN" -info </dev/null >/dev/null 2>&1 || rm -f "$lib/$KATA_AOT_CACHE"
rm -rf "$dst" && mv "$dst.tmp" "$dst"
ln -sfn "$KATA_VERSIONS_DIR/$version" "$prefix/$KATA_CURRENT_LINK.tmp"
mv -T "$prefix/$KATA_CURRENT_LINK.tmp" "$prefix/$KATA_CURRENT_LINK"
ln -sfn "../$KATA_CURRENT_LINK/$KATA_BIN_DIR/containerd-shim-kata-qemu-v2" \
  "$prefix/$KATA_BIN_DIR/containerd-shim-kata-qemu-v2"
echo "install-payload: $version at $prefix" >&2
