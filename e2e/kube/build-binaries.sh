#!/usr/bin/env bash
# Builds the Kubernetes binaries from the Go module proxy and installs them, with etcd, where
# fabric8's kube-api-test looks for them (the local cluster, e2e/cluster/up, uses the same dir):
#   $KUBE_API_TEST_DIR/k8s/<version>-linux-amd64/{kube-apiserver,...,kubectl,etcd}
# (kube-api-test's own default KUBE_API_TEST_DIR is ~/.kubeapitest; it reads the same variable).
# All missing components come from ONE `go build`, so the packages they share (client-go,
# apimachinery, the api types: most of the work) are compiled once.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the k8s.io/* staging modules
# with local paths. So a throwaway module requires k8s.io/kubernetes vX.Y.Z and replaces every
# staging module with its published v0.Y.Z, then builds the cmd packages.
#
# Idempotent: skips the build when every requested binary is present and its stamp names this
# version. Concurrent runs into the same dir take turns (flock) and the later one finds the
# stamps of the earlier.
#
# Usage: e2e/kube/build-binaries.sh [component ...]   (default: all of ALL below)
#   KUBE_VERSION      Kubernetes version to build (default below)
#   KUBE_BIN_DIR      install directory (default: the kube-api-test layout above)
#   ETCD              etcd binary to link in (default: Debian's /usr/bin/etcd, 3.4)
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.35.4}
KUBE_API_TEST_DIR=${KUBE_API_TEST_DIR:-$HOME/.kubeapitest}
KUBE_BIN_DIR=${KUBE_BIN_DIR:-$KUBE_API_TEST_DIR/k8s/$KUBE_VERSION-linux-amd64}
ETCD=${ETCD:-/usr/bin/etcd}
ALL=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
COMPONENTS=("$@")
[ ${#COMPONENTS[@]} -gt 0 ] || COMPONENTS=("${ALL[@]}")

log() { echo "kube-binaries: $*" >&2; }
export PATH=/usr/local/go/bin:$PATH
for c in "${COMPONENTS[@]}"; do
  case " ${ALL[*]} " in
    *" $c "*) ;;
    *) log "unknown component '$c' (known: ${ALL[*]})"; exit 2 ;;
  esac
done

mkdir -p "$KUBE_BIN_DIR"
exec 9>"$KUBE_BIN_DIR/.build.lock"
flock 9

# --- skip when everything is there --------------------------------------------------------
todo=()
for c in "${COMPONENTS[@]}"; do
  stamp="$KUBE_BIN_DIR/.built-$c"
  if [ -x "$KUBE_BIN_DIR/$c" ] && [ "$(cat "$stamp" 2>/dev/null)" = "v$KUBE_VERSION" ]; then
    continue
  fi
  todo+=("$c")
done

if [ ! -e "$KUBE_BIN_DIR/etcd" ]; then
  [ -x "$ETCD" ] || { log "no etcd at $ETCD (apt-get install etcd-server, or set ETCD)"; exit 1; }
  ln -sf "$ETCD" "$KUBE_BIN_DIR/etcd"
fi
[ ${#todo[@]} -gt 0 ] || exit 0

command -v go >/dev/null || { log "go not found (expected in /usr/local/go/bin)"; exit 1; }

# --- the throwaway module -----------------------------------------------------------------
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off

minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
staging_version="v0.${KUBE_VERSION#*.}"
log "building ${todo[*]} v$KUBE_VERSION (staging modules $staging_version) in $work"

go mod init kata-operator.local/kube-binaries >/dev/null 2>&1
go mod edit -require="k8s.io/kubernetes@v$KUBE_VERSION"

# The staging modules are exactly those k8s.io/kubernetes replaces with ./staging/... paths.
gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || { log "could not download k8s.io/kubernetes@v$KUBE_VERSION's go.mod"; exit 1; }
staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9./-]*\) => \./staging/.*#\1#p' "$gomod")
[ -n "$staging" ] || { log "no staging replaces found in $gomod"; exit 1; }
edits=()
for m in $staging; do edits+=("-replace=$m=$m@$staging_version"); done
go mod edit "${edits[@]}"
# Keep the go directive at least what k8s.io/kubernetes asks for.
go mod edit -go="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"

pkgs=()
for c in "${todo[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
pinned=(); for p in "${pkgs[@]}"; do pinned+=("$p@v$KUBE_VERSION"); done

# Version stamps, so /version and the apiserver's compatibility version are right.
commit=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' | head -1)
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=v$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  [ -z "$commit" ] || ldflags+=" -X $p.gitCommit=$commit"
done

# `go get` resolves the whole graph once (the replaces pin the staging modules); the explicit
# @version keeps it from moving k8s.io/kubernetes to the newest release.
go get "${pinned[@]}"
resolved=$(date +%s)
mkdir -p "$work/out"
go build -trimpath -ldflags "$ldflags" -o "$work/out/" "${pkgs[@]}"

for c in "${todo[@]}"; do
  install -m 0755 "$work/out/$c" "$KUBE_BIN_DIR/$c.tmp"
  mv -f "$KUBE_BIN_DIR/$c.tmp" "$KUBE_BIN_DIR/$c"
  echo "v$KUBE_VERSION" >"$KUBE_BIN_DIR/.built-$c"
done
log "built ${todo[*]} into $KUBE_BIN_DIR in $(( $(date +%s) - start ))s ($(( resolved - start ))s modules, $(( $(date +%s) - resolved ))s compile)"
