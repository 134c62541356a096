#!/usr/bin/env bash
# Builds the guest kernel from Debian's linux-source-6.12: tinyconfig + config-fragment, with
# patches/*.patch applied (see each patch's comment for why).
# Output: OUT_DIR/vmlinux (uncompressed ELF, booted through PVH). The build is cached under
# $KATA_CACHE/kernel/<hash of source version, fragment and this script>.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
src_tar=$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null) || {
  echo "kernel: /usr/src/linux-source-6.12.tar.xz is missing; run 'make setup'" >&2; exit 1; }
src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
key=$( (echo "$src_ver"; cat "$here/config-fragment" "$here/build.sh" "$here"/patches/*.patch) | sha256sum | cut -c1-16)
cache=${KATA_CACHE:-$HOME/.cache/kata-operator}/kernel/$key
mkdir -p "$out"

if [ ! -f "$cache/vmlinux" ]; then
  echo "kernel: building $src_ver with $(basename "$here")/config-fragment and patches/ (cache key $key, takes minutes)" >&2
  work=$(mktemp -d "${TMPDIR:-/tmp}/kata-kernel.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  tar -C "$work" -xf "$src_tar"
  ksrc=$(echo "$work"/linux-source-6.12)
  for p in "$here"/patches/*.patch; do patch -s -d "$ksrc" -p1 < "$p"; done
  make -C "$ksrc" -s tinyconfig
  "$ksrc/scripts/kconfig/merge_config.sh" -m -O "$ksrc" "$ksrc/.config" "$here/config-fragment" >/dev/null
  make -C "$ksrc" -s olddefconfig
  # Fail loudly when Kconfig silently dropped an option (a missing dependency).
  missing=0
  while IFS= read -r line; do
    case "$line" in CONFIG_*=*) ;; *) continue ;; esac
    grep -qxF "$line" "$ksrc/.config" || { echo "kernel: config option not applied: $line" >&2; missing=1; }
  done < "$here/config-fragment"
  [ "$missing" -eq 0 ] || exit 1
  make -C "$ksrc" -s -j"$(nproc)" vmlinux KBUILD_BUILD_TIMESTAMP="2025-01-01" KBUILD_BUILD_USER=kata KBUILD_BUILD_HOST=kata
  mkdir -p "$cache.tmp"
  cp "$ksrc/vmlinux" "$cache.tmp/vmlinux"
  cp "$ksrc/.config" "$cache.tmp/config"
  make -C "$ksrc" -s kernelrelease > "$cache.tmp/release"
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
install -m 0644 "$cache/vmlinux" "$out/vmlinux"
install -m 0644 "$cache/config" "$out/kernel.config"
install -m 0644 "$cache/release" "$out/kernel.release"
echo "kernel: $(cat "$out/kernel.release"), $(du -h "$out/vmlinux" | cut -f1) at $out/vmlinux" >&2
