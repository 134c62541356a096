#!/usr/bin/env bash
# Builds the node payload tree (layout: docs/payload.md) into OUT:
#   OUT/bin/containerd-shim-kata-qemu-v2 -> ../current/bin/containerd-shim-kata-qemu-v2
#   OUT/current -> versions/VERSION
#   OUT/versions/VERSION/{bin,jre,lib,qemu,libexec,share/kata,share/defaults}
# Usage: build-payload.sh OUT VERSION GUEST_DIR VIRTIOFSD
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shim=$(dirname "$here")
out=${1:?OUT}; version=${2:?VERSION}; guest=${3:?GUEST_DIR}; virtiofsd=${4:?VIRTIOFSD}
java_home=${JAVA_HOME:?JAVA_HOME must be set}
v="$out/versions/$version"
rm -rf "$v" && mkdir -p "$v"/{bin,lib,libexec,share/kata,share/defaults,qemu/bin,qemu/lib,qemu/libexec,qemu/share}

# Java runtime: just the modules the shim needs (jdeps), no man pages or headers.
"$java_home/bin/jlink" --add-modules java.base,java.logging,java.desktop,java.sql,jdk.unsupported,java.net.http \
  --strip-debug --no-man-pages --no-header-files --compress=zip-6 --output "$v/jre"
cp "$shim"/target/lib/*.jar "$v/lib/"
cp "$shim"/target/shim-*.jar "$v/lib/"
install -m 0755 "$here/containerd-shim-kata-qemu-v2" "$v/bin/"

# QEMU with the libraries it links and the firmware a pc machine boots with.
install -m 0755 /usr/bin/qemu-system-x86_64 "$v/qemu/libexec/"
ldd /usr/bin/qemu-system-x86_64 | awk '/=> \//{print $3}' | while read -r lib; do
  case "$(basename "$lib")" in libc.so.*|libm.so.*|ld-linux*|libpthread.so.*|libdl.so.*|librt.so.*) continue;; esac
  cp -L "$lib" "$v/qemu/lib/"
done
for f in bios-256k.bin linuxboot_dma.bin linuxboot.bin kvmvapic.bin pvh.bin multiboot_dma.bin; do
  src=""
  for d in /usr/share/qemu /usr/share/seabios; do [ -e "$d/$f" ] && { src="$d/$f"; break; }; done
  [ -n "$src" ] || { echo "payload: QEMU firmware $f not found; run 'make setup'" >&2; exit 1; }
  cp -L "$src" "$v/qemu/share/"
done
install -m 0755 "$here/qemu-wrapper" "$v/qemu/bin/qemu-system-x86_64"

install -m 0755 "$virtiofsd" "$v/libexec/virtiofsd"
install -m 0644 "$guest/vmlinux" "$guest/rootfs.cpio.gz" "$v/share/kata/"
install -m 0644 "$here/kata-qemu.toml" "$v/share/defaults/kata-qemu.toml"
echo "$version" > "$v/VERSION"

mkdir -p "$out/bin"
ln -sfn "versions/$version" "$out/current"
ln -sfn ../current/bin/containerd-shim-kata-qemu-v2 "$out/bin/containerd-shim-kata-qemu-v2"
echo "payload: $version at $out ($(du -sh "$v" | cut -f1))" >&2
