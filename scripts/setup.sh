#!/usr/bin/env bash
# Installs what builds and tests need. Idempotent and quiet when nothing is to do.
# Debian packages (QEMU from bookworm-backports), then Go test tools into $TOOLS_DIR.
set -euo pipefail

TOOLS_DIR=${TOOLS_DIR:-/opt/kata-dev-tools}
log() { echo "setup: $*" >&2; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# --- Debian packages -------------------------------------------------------
BACKPORTS=/etc/apt/sources.list.d/bookworm-backports.sources

# The Debian archive this machine already uses for bookworm (its mirror or proxy, whatever it is),
# and that entry's keyring: "URI KEYRING". deb822 *.sources first, then one-line sources.list.
debian_archive() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; signed = ""
        for (i = 1; i <= NF; i++) {
          l = $i
          if (l ~ /^[ \t]*#/) continue
          if (sub(/^Types:[ \t]*/, "", l)) types = l
          else if (sub(/^URIs:[ \t]*/, "", l)) uris = l
          else if (sub(/^Suites:[ \t]*/, "", l)) suites = l
          else if (sub(/^Signed-By:[ \t]*/, "", l)) signed = l
        }
        if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/) {
          split(uris, u, /[ \t]+/); print u[1], signed; exit
        }
      }' "$f" | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" {
        i = 2; signed = ""
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            if ($i ~ /signed-by=/) { signed = $i; sub(/.*signed-by=/, "", signed); sub(/\]$/, "", signed) }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        if ($(i + 1) == "bookworm") { print $i, signed; exit }
      }' "$f" | grep . && return 0
  done
  return 1
}

if [ ! -f "$BACKPORTS" ]; then
  read -r mirror keyring < <(debian_archive) || {
    log "no Debian bookworm entry in /etc/apt/sources.list or /etc/apt/sources.list.d/; add one first"
    exit 1
  }
  keyring=${keyring:-/usr/share/keyrings/debian-archive-keyring.gpg}
  log "adding bookworm-backports from $mirror to apt sources"
  $SUDO tee "$BACKPORTS" >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: $keyring
SRC
  APT_UPDATED=0
fi

# package -> apt target release ("" = default)
PKGS=(
  qemu-system-x86:bookworm-backports
  linux-source-6.12:bookworm-backports
  containerd: runc: crun: busybox-static: umoci: skopeo:
  build-essential: patch: bc: bison: flex: libelf-dev: libssl-dev: cpio: xz-utils: zstd:
  iproute2: procps: psmisc: jq: socat: e2fsprogs: erofs-utils:
  containernetworking-plugins: etcd-server: protobuf-compiler: libseccomp-dev: libcap-ng-dev:
  pkg-config:
  iptables: nftables: openssl: curl: # the local cluster (e2e/cluster): kube-proxy, its PKI, checks
  docker-registry: # critest's images, served on loopback by e2e/critest/run.sh
)
missing_default=(); missing_bp=()
for p in "${PKGS[@]}"; do
  name=${p%%:*}; rel=${p#*:}
  if ! dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q "install ok installed"; then
    if [ -n "$rel" ]; then missing_bp+=("$name"); else missing_default+=("$name"); fi
  fi
done
if [ ${#missing_default[@]} -gt 0 ] || [ ${#missing_bp[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing_default[*]} ${missing_bp[*]}"
  $SUDO apt-get update -qq
  export DEBIAN_FRONTEND=noninteractive
  [ ${#missing_default[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends "${missing_default[@]}" >/dev/null
  [ ${#missing_bp[@]} -eq 0 ] || $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports "${missing_bp[@]}" >/dev/null
fi

# --- Go test tools (never part of the product) -----------------------------
export GOBIN="$TOOLS_DIR/bin" GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$GOBIN"
go_tool() { # binary module@version
  local bin=$1 mod=$2 stamp="$TOOLS_DIR/.stamp-$(echo "$2" | tr '/@' '__')"
  [ -x "$GOBIN/$bin" ] && [ -f "$stamp" ] && return 0
  log "go install $mod"
  go install "$mod" && touch "$stamp"
}
go_tool containerd github.com/containerd/containerd/v2/cmd/containerd@v2.2.7
go_tool ctr github.com/containerd/containerd/v2/cmd/ctr@v2.2.7
go_tool containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@v2.2.7
go_tool crictl sigs.k8s.io/cri-tools/cmd/crictl@v1.36.0
go_tool helm helm.sh/helm/v4/cmd/helm@v4.3.1 # chart lint/template/install tests (helm/)
# critest (cri-tools' CRI validation suite) is a Go test binary: `go test -c` of its package in a
# throwaway module. Its -parallel mode runs the specs through the ginkgo CLI, which must be the
# ginkgo version critest was built with (v2.28.1 for cri-tools v1.36.0).
critest_tool() { # version
  local ver=$1 stamp="$TOOLS_DIR/.stamp-critest-$1" mod
  [ -x "$GOBIN/critest" ] && [ -f "$stamp" ] && return 0
  log "go test -c sigs.k8s.io/cri-tools/cmd/critest@$ver"
  mod=$(mktemp -d)
  if (cd "$mod" && printf 'module critestbuild\n\ngo 1.26\n' >go.mod &&
    go get "sigs.k8s.io/cri-tools@$ver" &&
    go test -c -ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=$ver" \
      -o "$GOBIN/critest" sigs.k8s.io/cri-tools/cmd/critest); then
    touch "$stamp"
  fi
  rm -rf "$mod"
  [ -f "$stamp" ]
}
critest_tool v1.36.0
go_tool ginkgo github.com/onsi/ginkgo/v2/ginkgo@v2.28.1
# Kubernetes for kube-api-test (operator tests) and the local cluster (e2e/cluster); cached.
bash "$(dirname "$0")/../e2e/kube/build-binaries.sh"
