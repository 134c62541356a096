#!/usr/bin/env bash
# Builds virtiofsd (the virtio-fs vhost-user daemon) from crates.io into OUT_DIR/virtiofsd.
# It ships in the node payload (libexec/virtiofsd); cached per version under $KATA_CACHE.
set -euo pipefail
out=${1:?usage: build-virtiofsd.sh OUT_DIR}
version=1.14.0
cache=${KATA_CACHE:-$HOME/.cache/kata-operator}/virtiofsd-$version
if [ ! -x "$cache/bin/virtiofsd" ]; then
  echo "virtiofsd: building $version from crates.io (takes minutes)" >&2
  cargo install --quiet --locked --version "$version" --root "$cache.tmp" virtiofsd
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
mkdir -p "$out"
install -m 0755 "$cache/bin/virtiofsd" "$out/virtiofsd"
