#!/usr/bin/env bash
# Builds the node payload tree (layout: docs/payload.md; names: the contract's
# payload-layout.env, sourced below) into OUT:
#   OUT/bin/containerd-shim-kata-qemu-v2 -> ../current/bin/containerd-shim-kata-qemu-v2
#   OUT/current -> versions/VERSION
#   OUT/versions/VERSION/{bin,jre,lib,qemu,libexec,share/kata,share/defaults,payload-layout.env}
# Usage: build-payload.sh OUT VERSION GUEST_DIR VIRTIOFSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shim=$(dirname "$here")
layout="$shim/../contract/src/main/resources/dev/kataoperator/contract/payload-layout.env"
. "$layout"
out=${1:?OUT}; version=${2:?VERSION}; guest=${3:?GUEST_DIR}; virtiofsd=${4:?VIRTIOFSD}
java_home=${JAVA_HOME:?JAVA_HOME must be set}
v="$out/$KATA_VERSIONS_DIR/$version"
q="$v/$KATA_QEMU_DIR"
rm -rf "$v"
mkdir -p "$v/$KATA_BIN_DIR" "$v/$KATA_LIB_DIR" "$v/$KATA_LIBEXEC_DIR" "$v/$KATA_GUEST_DIR" \
  "$v/$KATA_DEFAULTS_DIR" "$q"/{bin,lib,libexec,share}
install -m 0644 "$layout" "$v/payload-layout.env"

# Java runtime: the modules the shim and the installer (which runs on this JRE in its image)
# need (jdeps), no man pages or headers.
"$java_home/bin/jlink" --add-modules java.base,java.logging,java.desktop,java.sql,jdk.unsupported,java.net.http,java.naming \
  --strip-debug --no-man-pages --no-header-files --compress=zip-6 --output "$v/$KATA_JRE_DIR"
cp "$shim"/target/lib/*.jar "$v/$KATA_LIB_DIR/"
cp "$shim"/target/shim-*.jar "$v/$KATA_LIB_DIR/"
install -m 0644 "$here/shim.jvm-options" "$v/$KATA_LIB_DIR/$KATA_JVM_OPTIONS"
install -m 0755 "$here/containerd-shim-kata-qemu-v2" "$v/$KATA_BIN_DIR/"
install -m 0644 "$here/shim-launch.sh" "$v/$KATA_LIB_DIR/shim-launch.sh"

# QEMU with the libraries it links and the firmware a pc machine boots with; never one without
# the 9p fix for CVE-2023-2861.
bash "$here/check-qemu.sh" /usr/bin/qemu-system-x86_64
install -m 0755 /usr/bin/qemu-system-x86_64 "$q/libexec/"
ldd /usr/bin/qemu-system-x86_64 | awk '/=> \//{print $3}' | while read -r lib; do
  case "$(basename "$lib")" in libc.so.*|libm.so.*|ld-linux*|libpthread.so.*|libdl.so.*|librt.so.*) continue;; esac
  cp -L "$lib" "$q/lib/"
done
for f in bios-256k.bin linuxboot_dma.bin linuxboot.bin kvmvapic.bin pvh.bin multiboot_dma.bin; do
  src=""
  for d in /usr/share/qemu /usr/share/seabios; do [ -e "$d/$f" ] && { src="$d/$f"; break; }; done
  [ -n "$src" ] || { echo "payload: QEMU firmware $f not found; run 'make setup'" >&2; exit 1; }
  cp -L "$src" "$q/share/"
done
install -m 0755 "$here/qemu-wrapper" "$q/bin/qemu-system-x86_64"

install -m 0755 "$virtiofsd" "$v/$KATA_LIBEXEC_DIR/virtiofsd"
install -m 0644 "$guest/vmlinux" "$v/$KATA_GUEST_DIR/$KATA_KERNEL"
install -m 0644 "$guest/rootfs.cpio.gz" "$v/$KATA_GUEST_DIR/$KATA_INITRD"
install -m 0644 "$here/kata-qemu.toml" "$v/$KATA_DEFAULTS_DIR/kata-qemu.toml"
echo "$version" > "$v/$KATA_VERSION_FILE"

mkdir -p "$out/$KATA_BIN_DIR"
ln -sfn "$KATA_VERSIONS_DIR/$version" "$out/$KATA_CURRENT_LINK"
ln -sfn "../$KATA_CURRENT_LINK/$KATA_BIN_DIR/containerd-shim-kata-qemu-v2" \
  "$out/$KATA_BIN_DIR/containerd-shim-kata-qemu-v2"
echo "payload: $version at $out ($(du -sh "$v" | cut -f1))" >&2
