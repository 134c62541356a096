#!/usr/bin/env bash
# Builds the images critest v1.36.0 pulls, locally from Debian packages (no registry is reachable
# here), into one OCI layout with a tag per image:
#   OUT/oci          the layout
#   OUT/images.txt   "<layout tag> <repository path:tag>": critest's image names without their
#                    registry host (registry.k8s.io, gcr.io, k8s.gcr.io), as the loopback registry
#                    serves them
# Rebuilt only when an input changes. Usage: build-images.sh OUT_DIR
#
# The stand-ins do what critest's specs ask of the real images, nothing more:
#   busybox    Debian's busybox (the dynamic build: its shell runs /bin/ls rather than its own
#              applet, so a masked /bin/ls is denied as in the real image), every applet a hard
#              link (a masked /bin/ls must not mask the shell), plus procps' pgrep/pkill and
#              util-linux's ipcs/ipcmk, which Debian's busybox lacks
#   httpd      busybox httpd on port 80, saying "httpd" in its log
#   nginx, hostnet-nginx   nginx.c: a process named nginx with nginx's "master process" title
#              and pid file, serving on port 80 (12003 for hostnet) through busybox httpd
#   nonewprivs a setuid-root program printing its effective uid (nnp.c)
#   predefined-group   busybox running as uid 1000, a member of group 50000 in /etc/group
#   pause      e2e/images/pause.c
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-images.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "critest images: must run as root (setuid bit, file owners)" >&2; exit 1; }

# Debian's busybox package (not installed: busybox-static, which the rest of the project uses,
# conflicts with it), downloaded once per version into the cache.
debs=${KATA_CACHE:-$HOME/.cache/kata-operator}/critest
bb_version=$(apt-cache policy busybox 2>/dev/null | awk '/Candidate:/ { print $2 }')
if [ -n "$bb_version" ] && [ "$bb_version" != "(none)" ]; then
  bb_dir="$debs/busybox-${bb_version//:/_}"
  if ! ls "$bb_dir"/busybox_*.deb >/dev/null 2>&1; then
    mkdir -p "$bb_dir.tmp"
    (cd "$bb_dir.tmp" && apt-get download -q "busybox=$bb_version" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    ls "$bb_dir.tmp"/busybox_*.deb >/dev/null 2>&1 || { echo "critest images: apt-get download busybox=$bb_version failed" >&2; exit 1; }
    rm -rf "$bb_dir" && mv "$bb_dir.tmp" "$bb_dir"
  fi
else
  bb_dir=$(ls -d "$debs"/busybox-* 2>/dev/null | tail -n1)
  [ -n "$bb_dir" ] || { echo "critest images: apt knows no busybox package; run 'apt-get update'" >&2; exit 1; }
fi
bb_deb=$(ls "$bb_dir"/busybox_*.deb)
mkdir -p "$bb_dir/x"
[ -x "$bb_dir/x/bin/busybox" ] || dpkg-deb -x "$bb_deb" "$bb_dir/x"
BUSYBOX=$bb_dir/x/bin/busybox
EXTRA_BINS=(/usr/bin/pgrep /usr/bin/pkill /usr/bin/ipcs /usr/bin/ipcmk)
mapfile -t libs < <(ldd "$BUSYBOX" "${EXTRA_BINS[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*[^:]$/ { print $1 }' | LC_ALL=C sort -u)

key=$( { for f in "$0" "$here/nnp.c" "$here/nginx.c" "$here/../images/pause.c" "$bb_deb" "${EXTRA_BINS[@]}" "${libs[@]}"; do
           echo "$f"; sha256sum < "$f"; done; } | sha256sum | cut -c1-32)
if [ -f "$out/images.txt" ] && [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
for t in umoci gcc; do command -v "$t" >/dev/null || { echo "critest images: $t missing; run 'make setup'" >&2; exit 1; }; done

work=$(mktemp -d "${TMPDIR:-/tmp}/critest-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
layout="$work/oci"
umoci init --layout "$layout"
: >"$work/images.txt"

gcc -Os -static -o "$work/bin-nnp" "$here/nnp.c"
gcc -Os -static -o "$work/bin-pause" "$here/../images/pause.c"
gcc -Os -static -o "$work/bin-nginx" "$here/nginx.c"
strip "$work/bin-nnp" "$work/bin-pause" "$work/bin-nginx"

# new_image TAG PATH: an empty image unpacked at $work/TAG; the caller fills $work/TAG/rootfs.
new_image() {
  umoci new --image "$layout:$1"
  umoci unpack --image "$layout:$1" "$work/$1" >/dev/null
  echo "$1 $2" >>"$work/images.txt"
}

# derive TAG PATH: the busybox image unpacked at $work/TAG, repacked as a layer on top of it.
derive() {
  umoci unpack --image "$layout:busybox" "$work/$1" >/dev/null
  echo "$1 $2" >>"$work/images.txt"
}

# finish TAG [umoci config args...]
finish() {
  local tag=$1; shift
  umoci repack --image "$layout:$tag" "$work/$tag" >/dev/null
  umoci config --image "$layout:$tag" "$@" >/dev/null
  rm -rf "${work:?}/$tag"
}

PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# busybox_root ROOT: the test container image's tree.
busybox_root() {
  local r=$1 a l
  mkdir -p "$r"/{bin,etc,home,root,tmp,var/run,var/www,usr/bin,usr/sbin,proc,sys,dev}
  chmod 1777 "$r/tmp"; chmod 0700 "$r/root"
  install -m 0755 "$BUSYBOX" "$r/bin/busybox"
  for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -f "$r/bin/busybox" "$r/bin/$a"
  done
  for a in "${EXTRA_BINS[@]}"; do install -m 0755 "$a" "$r$a"; done
  for l in "${libs[@]}"; do mkdir -p "$r$(dirname "$l")"; cp -L "$l" "$r$l"; done
  cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
  cat >"$r/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
www-data:x:33:
nogroup:x:65534:
EOF
}

htdocs() {
  mkdir -p "$1/htdocs"
  echo "<html><body>kata critest web server</body></html>" >"$1/htdocs/index.html"
}

new_image busybox e2e-test-images/busybox:1.29-2
busybox_root "$work/busybox/rootfs"
finish busybox --config.env "$PATH_ENV" --config.cmd sh

# critest looks for "httpd" in the log of its httpd container.
derive httpd e2e-test-images/httpd:2.4.39-4
htdocs "$work/httpd/rootfs"
printf '#!/bin/sh\necho "httpd: serving /htdocs on port 80"\nexec httpd -f -p 80 -h /htdocs\n' >"$work/httpd/rootfs/usr/sbin/httpd-foreground"
chmod 0755 "$work/httpd/rootfs/usr/sbin/httpd-foreground"
finish httpd --config.env "$PATH_ENV" --config.entrypoint /usr/sbin/httpd-foreground --config.exposedports 80/tcp

for n in nginx:80:e2e-test-images/nginx:1.14-2 hostnet-nginx:12003:k8s-staging-cri-tools/hostnet-nginx-amd64:latest; do
  IFS=: read -r tag port path ptag <<<"$n"
  derive "$tag" "$path:$ptag"
  htdocs "$work/$tag/rootfs"
  install -m 0755 "$work/bin-nginx" "$work/$tag/rootfs/usr/sbin/nginx"
  finish "$tag" --config.env "$PATH_ENV" --config.entrypoint /usr/sbin/nginx --config.cmd "$port" --config.exposedports "$port/tcp"
done

new_image nonewprivs e2e-test-images/nonewprivs:1.3
mkdir -p "$work/nonewprivs/rootfs/usr/local/bin" "$work/nonewprivs/rootfs/etc"
install -o 0 -g 0 -m 4755 "$work/bin-nnp" "$work/nonewprivs/rootfs/usr/local/bin/nnp"
printf 'root:x:0:0:root:/root:/bin/false\n' >"$work/nonewprivs/rootfs/etc/passwd"
printf 'root:x:0:\n' >"$work/nonewprivs/rootfs/etc/group"
finish nonewprivs --config.env "$PATH_ENV" --config.entrypoint /usr/local/bin/nnp

derive predefined-group k8s-staging-cri-tools/test-image-predefined-group:latest
echo 'default-user:x:1000:1000::/home/default-user:/bin/sh' >>"$work/predefined-group/rootfs/etc/passwd"
printf 'default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' >>"$work/predefined-group/rootfs/etc/group"
mkdir -p "$work/predefined-group/rootfs/home/default-user"
chown 1000:1000 "$work/predefined-group/rootfs/home/default-user"
finish predefined-group --config.env "$PATH_ENV" --config.cmd sh --config.user 1000

new_image pause pause:3.9
install -m 0755 "$work/bin-pause" "$work/pause/rootfs/pause"
finish pause --config.entrypoint /pause --config.user 65535:65535

umoci gc --layout "$layout"
rm -rf "$out/oci" "$out/images.txt"
cp -a "$layout" "$out/oci"
cp "$work/images.txt" "$out/images.txt"
echo "$key" >"$out/.key"
echo "critest images: $(wc -l <"$out/images.txt") images, $(du -sh "$out/oci" | cut -f1) at $out/oci" >&2
