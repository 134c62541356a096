#!/bin/sh
# Writes PAYLOAD_DIR/MANIFEST.sha256, the manifest the runtime-node-installer checks every payload
# file against before it goes onto a node: sha256sum output for every regular file and symbolic
# link under the version `current` names (sha256sum reads a link's target), with paths relative to
# PAYLOAD_DIR, sorted. `cd PAYLOAD_DIR && sha256sum -c MANIFEST.sha256` checks it by hand.
# Usage: make-manifest.sh PAYLOAD_DIR
set -eu
dir=${1:?usage: make-manifest.sh PAYLOAD_DIR}
cd "$dir"
version=$(readlink current) || { echo "make-manifest: $dir/current is not a symbolic link" >&2; exit 1; }
case "$version" in
  versions/*/* | versions/) echo "make-manifest: current -> $version is not versions/<version>" >&2; exit 1 ;;
  versions/*) ;;
  *) echo "make-manifest: current -> $version is not versions/<version>" >&2; exit 1 ;;
esac
[ -d "$version" ] || { echo "make-manifest: $dir/$version is missing" >&2; exit 1; }
find "$version" \( -type f -o -type l \) -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum > MANIFEST.sha256.tmp
mv MANIFEST.sha256.tmp MANIFEST.sha256
echo "make-manifest: $(wc -l < MANIFEST.sha256) files of $version in $dir/MANIFEST.sha256" >&2
