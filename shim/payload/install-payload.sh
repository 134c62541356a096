#!/usr/bin/env bash
# Installs a built payload tree under PREFIX (default /opt/kata): copies the version, makes the
# shim's AOT cache on this node (it records the JRE and jar paths, so it is made where it runs),
# then switches PREFIX/current atomically. Usage: install-payload.sh PAYLOAD PREFIX
set -euo pipefail
src=${1:?PAYLOAD}; prefix=${2:-/opt/kata}
version=$(cat "$src/current/VERSION")
dst="$prefix/versions/$version"
mkdir -p "$prefix/versions" "$prefix/bin"
rm -rf "$dst.tmp" && cp -a "$src/versions/$version" "$dst.tmp"
# Training run for the AOT cache: `-info` loads protobuf and the shim's entry classes.
"$dst.tmp/jre/bin/java" -XX:AOTCacheOutput="$dst.tmp/lib/shim.aot" -Xlog:disable \
  -XX:+UseSerialGC -XX:TieredStopAtLevel=1 --sun-misc-unsafe-memory-access=allow \
  --enable-native-access=ALL-UNNAMED -cp "$dst.tmp/lib/*" dev.kataoperator.shim.pod.KataShim -info </dev/null >/dev/null 2>&1 \
  || rm -f "$dst.tmp/lib/shim.aot"
rm -rf "$dst" && mv "$dst.tmp" "$dst"
ln -sfn "versions/$version" "$prefix/current.tmp" && mv -T "$prefix/current.tmp" "$prefix/current"
ln -sfn ../current/bin/containerd-shim-kata-qemu-v2 "$prefix/bin/containerd-shim-kata-qemu-v2"
echo "install-payload: $version at $prefix" >&2
