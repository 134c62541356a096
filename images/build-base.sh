#!/usr/bin/env bash
# The base of every project image, built from Debian packages without a registry:
#   debian   libc6, libgcc-s1, ca-certificates, netbase, base-files (dpkg -x; no dpkg, no apt,
#            no shell), /etc/passwd with root and nonroot (65532)
#   java     debian + a jlink'd Java 25 runtime in /opt/java (for the operator)
#   shell    debian + busybox-static (sh, test, ...: the installer's launcher and readiness probe)
# Output: OUT/base, an OCI layout with those three tags. Cached under $KATA_CACHE/images/base-<key>
# (the key covers the package versions, the JDK and this script).
# Usage: build-base.sh OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-base.sh OUT_DIR}
java_home=${JAVA_HOME:?JAVA_HOME must be set (the Makefile sets it)}
cache_root=${KATA_CACHE:-$HOME/.cache/kata-operator}/images
PKGS=(libc6 libgcc-s1 ca-certificates netbase base-files busybox-static)
# The operator's modules: what jdeps reports for its Quarkus app (docs/images.md), except
# jdk.compiler (only vertx-codegen, a build-time tool, refers to it), plus jdk.zipfs, which
# SmallRye Config loads by name (the jar: file system) and jdeps cannot see.
JAVA_MODULES=java.base,java.compiler,java.desktop,java.logging,java.management,java.naming,java.sql,jdk.management,jdk.unsupported,jdk.zipfs

for tool in umoci skopeo apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "images: $tool is missing; run 'make setup'" >&2; exit 1; }
done
versions=$(for p in "${PKGS[@]}"; do echo "$p=$(apt-cache policy "$p" | awk '/Candidate:/{print $2}')"; done)
if grep -q '=$\|=(none)' <<<"$versions"; then
  echo "images: apt knows no candidate for some of ${PKGS[*]}; run 'apt-get update'" >&2; exit 1
fi
key=$( (echo "$versions"; "$java_home/bin/java" -version 2>&1; echo "$JAVA_MODULES"; cat "$0") | sha256sum | cut -c1-16)
cache="$cache_root/base-$key"

if [ ! -f "$cache/index.json" ]; then
  echo "images: building the base image (Debian packages, jlink) into $cache" >&2
  work=$(mktemp -d "${TMPDIR:-/tmp}/kata-base.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/debs"
  fetch() { (cd "$work/debs" && apt-get download -q=2 $(for v in $versions; do echo "${v%%=*}=${v#*=}"; done) 2>/dev/null); }
  # Stale package lists name versions the archive no longer has: refresh them once.
  fetch || { apt-get update -qq && versions=$(for p in "${PKGS[@]}"; do echo "$p=$(apt-cache policy "$p" | awk '/Candidate:/{print $2}')"; done) && fetch; } || {
    echo "images: apt-get download of ${PKGS[*]} failed (is the Debian archive reachable?)" >&2; exit 1; }

  layout="$work/oci"
  umoci init --layout "$layout"
  umoci new --image "$layout:debian"
  umoci unpack --image "$layout:debian" "$work/bundle" >/dev/null
  root="$work/bundle/rootfs"
  mkdir -p "$root/var/lib/dpkg/status.d"
  for deb in $(ls "$work"/debs/*.deb | grep -v busybox-static); do
    dpkg-deb -x "$deb" "$root"
    # What scanners read to know the packages (there is no dpkg database in the image).
    pkg=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -f "$deb" Package Version Architecture Source Maintainer Homepage > "$root/var/lib/dpkg/status.d/$pkg"
  done
  # Documentation goes, licences stay.
  find "$root/usr/share/doc" -type f ! -name copyright -delete
  rm -rf "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/lintian" "$root/usr/share/locale"
  # ca-certificates' bundle is made by its maintainer script, which never ran: make it here.
  mkdir -p "$root/etc/ssl/certs"
  find "$root/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat > "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n' > "$root/etc/group"
  mkdir -p "$root/tmp" "$root/root" "$root/home/nonroot" "$root/proc" "$root/sys" "$root/dev"
  chmod 1777 "$root/tmp"; chmod 0700 "$root/root" "$root/home/nonroot"
  chown 65532:65532 "$root/home/nonroot"
  umoci repack --image "$layout:debian" --history.created_by "build-base.sh: dpkg-deb -x ${PKGS[*]/busybox-static/}" "$work/bundle" >/dev/null
  umoci config --image "$layout:debian" --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --config.label "org.opencontainers.image.title=kata-operator base (Debian $(cat "$root/etc/debian_version"))" \
    --config.label org.opencontainers.image.description="libc6, libgcc-s1, ca-certificates, netbase, base-files from Debian" >/dev/null

  # java: a second layer with the runtime, so the installer image (which brings the payload's
  # own JRE) shares the first layer only.
  "$java_home/bin/jlink" --add-modules "$JAVA_MODULES" --strip-debug --no-man-pages --no-header-files \
    --compress=zip-6 --output "$work/jre"
  umoci tag --image "$layout:debian" java
  umoci insert --image "$layout:java" --history.created_by "build-base.sh: jlink $JAVA_MODULES" "$work/jre" /opt/java >/dev/null
  umoci config --image "$layout:java" --config.env JAVA_HOME=/opt/java \
    --config.env PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --config.label "org.opencontainers.image.title=kata-operator base with Java $("$work/jre/bin/java" -version 2>&1 | awk -F'"' '/version/{print $2}')" >/dev/null
  # shell: busybox and its applets as symlinks (no other package).
  umoci unpack --image "$layout:debian" "$work/shell" >/dev/null
  dpkg-deb -x "$work"/debs/busybox-static_*.deb "$work/shell/rootfs"
  for a in $("$work/shell/rootfs/bin/busybox" --list); do
    [ -e "$work/shell/rootfs/bin/$a" ] || [ -e "$work/shell/rootfs/usr/bin/$a" ] || ln -s busybox "$work/shell/rootfs/bin/$a"
  done
  find "$work/shell/rootfs/usr/share/doc" -type f ! -name copyright -delete
  rm -rf "$work/shell/rootfs/usr/share/man"
  dpkg-deb -f "$work"/debs/busybox-static_*.deb Package Version Architecture Source Maintainer Homepage \
    > "$work/shell/rootfs/var/lib/dpkg/status.d/busybox-static"
  umoci repack --image "$layout:shell" --history.created_by "build-base.sh: dpkg-deb -x busybox-static" "$work/shell" >/dev/null
  umoci gc --layout "$layout"
  mkdir -p "$cache_root"
  rm -rf "$cache.tmp" && cp -a "$layout" "$cache.tmp" && rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
mkdir -p "$out"
rm -rf "$out/base" && cp -a "$cache" "$out/base"
echo "images: base at $out/base (tags debian, java, shell)" >&2
