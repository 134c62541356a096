#!/usr/bin/env bash
# The runtime-node-installer image: base:shell + the node payload + the installer, run as root
# (it is a privileged DaemonSet that writes to the host).
#   /payload/                         the node payload as `make payload` builds it
#     versions/<v>/  current -> versions/<v>  bin/containerd-shim-kata-qemu-v2 -> ../current/...
#     MANIFEST.sha256                 runtime-node-installer/image/make-manifest.sh: sha256 of every
#                                     file of versions/<v>, relative to /payload (sha256sum -c)
#   /installer/lib/                   the installer jar and its runtime dependencies
#   /installer/bin/runtime-node-installer   entrypoint: the installer on the payload's JRE
# (names: the contract's InstallerContract.IMAGE_*; busybox brings sh and nsenter.)
# Layers: Debian base | busybox | payload | installer, so an installer change ships only the last.
# Usage: build-installer-image.sh OUT.tar VERSION PAYLOAD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${1:?usage: build-installer-image.sh OUT.tar VERSION PAYLOAD_DIR}
version=${2:?VERSION}; payload=${3:?PAYLOAD_DIR}
source "$here/lib.sh"
target="$repo/runtime-node-installer/target"
jar=$(ls "$target"/runtime-node-installer-*.jar 2>/dev/null | head -1)
[ -n "$jar" ] && [ -d "$target/lib" ] || {
  echo "images: the installer is not built; run ./mvnw -pl runtime-node-installer -am package" >&2; exit 1; }
[ -x "$payload/current/jre/bin/java" ] || { echo "images: no payload at $payload; run 'make payload'" >&2; exit 1; }
payload_version=$(cat "$payload/current/VERSION")
name="localhost/kata-operator/runtime-node-installer:$version"

bash "$here/build-base.sh" "$(dirname "$out")/images"
work=$(mktemp -d "${TMPDIR:-/tmp}/kata-installer-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
layout="$work/oci"
cp -a "$(dirname "$out")/images/base" "$layout"
umoci tag --image "$layout:shell" installer

# The payload: only the version this build made, with its two symlinks, and the manifest.
mkdir -p "$work/payload/versions" "$work/payload/bin"
cp -a "$payload/versions/$payload_version" "$work/payload/versions/"
ln -s "versions/$payload_version" "$work/payload/current"
ln -s ../current/bin/containerd-shim-kata-qemu-v2 "$work/payload/bin/containerd-shim-kata-qemu-v2"
sh "$repo/runtime-node-installer/image/make-manifest.sh" "$work/payload"
umoci insert --image "$layout:installer" --history.created_by "node payload $payload_version" "$work/payload" /payload >/dev/null

# The installer: jar + runtime dependencies, and a launcher on the payload's JRE.
mkdir -p "$work/installer/installer/lib" "$work/installer/installer/bin"
cp "$jar" "$target"/lib/*.jar "$work/installer/installer/lib/"
install -m 0755 "$repo/runtime-node-installer/image/runtime-node-installer" "$work/installer/installer/bin/"
umoci insert --image "$layout:installer" --history.created_by "runtime-node-installer $version" "$work/installer" / >/dev/null

mapfile -d '' labels < <(oci_labels runtime-node-installer "Kata operator node installer: checks the node, installs the Kata payload into /opt/kata, registers it with containerd" "$version")
umoci config --image "$layout:installer" "${labels[@]}" \
  --config.user 0:0 --config.workingdir / \
  --config.entrypoint /installer/bin/runtime-node-installer \
  --config.env KATA_PAYLOAD_DIR=/payload --config.env KATA_PAYLOAD_VERSION="$payload_version" \
  --config.label "dev.kataoperator.payload.version=$payload_version" \
  --config.label org.opencontainers.image.base.name=localhost/kata-operator/base:shell >/dev/null
mkdir -p "$(dirname "$out")"
oci_archive "$layout" installer "$name" "$out"
echo "images: $name at $out ($(oci_sizes "$layout" installer); payload $payload_version)" >&2
