# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by up, down
# Shared by e2e/cluster/up and down: where things live and small helpers.
# Sourced, not run. Everything a cluster owns is under $STATE, except what upstream code puts at
# fixed host paths (HOST_PATHS below), which `down` removes when `up` found it absent.

CLUSTER_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLUSTER_HOME/../.." && pwd)

KUBE_VERSION=${KUBE_VERSION:-1.35.4}
KUBE_BIN_DIR=${KUBE_BIN_DIR:-${KUBE_API_TEST_DIR:-$HOME/.kubeapitest}/k8s/$KUBE_VERSION-linux-amd64}
TOOLS_DIR=${TOOLS_DIR:-/opt/kata-dev-tools}
CONTAINERD_BIN=${CONTAINERD_BIN:-$TOOLS_DIR/bin/containerd}
CTR_BIN=$(dirname "$CONTAINERD_BIN")/ctr
ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
CNI_BIN_DIR=${CNI_BIN_DIR:-/usr/lib/cni}
IMAGES_DIR=${IMAGES_DIR:-$REPO_ROOT/build/images}

# One cluster per machine: names and ports are fixed so `down` finds what `up` made even when
# the environment differs; they are chosen not to meet a dev's own containerd (/run/containerd,
# cni0, 10.88.0.0/16) or the project's other tests (katacri0, katademo0, 10.88.x.0/24).
NODE_NAME=${KATA_CLUSTER_NODE:-kata-e2e-node}
BRIDGE=kata-e2e0
CNI_NETWORK=kata-e2e
POD_CIDR=10.244.0.0/24 # the one node's pod range, inside CLUSTER_CIDR
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SERVICE_IP=10.96.0.1
CGROUP_ROOT=/kata-e2e # kubelet's cgroupRoot: every pod's cgroup is below it
APISERVER_PORT=6443
ETCD_CLIENT_PORT=23790 # not 2379, so a dev's etcd or kube-api-test's stays out of the way
ETCD_PEER_PORT=23800
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
KCM_PORT=10257
SCHEDULER_PORT=10259
PROXY_METRICS_PORT=10249
PROXY_HEALTHZ_PORT=10256
PORTS=("$APISERVER_PORT" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$KUBELET_PORT" "$KUBELET_HEALTHZ_PORT"
  "$KCM_PORT" "$SCHEDULER_PORT" "$PROXY_METRICS_PORT" "$PROXY_HEALTHZ_PORT")

# Host paths upstream code writes regardless of its flags (kubelet: ContainerLogsDir and the
# device-plugin socket dir are constants; libcni caches results under /var/lib/cni), and one a
# flag keeps clean (controller-manager's flex-volume dir), checked in case a version ignores it.
HOST_PATHS=(/var/log/containers /var/lib/kubelet /var/lib/cni /usr/libexec/kubernetes)

# Kernel settings the kubelet changes at start (setupKernelTunables: it either modifies them or,
# with protectKernelDefaults, refuses to start) and the ones pod networking needs. `up` records
# the values it found, `down` puts them back.
SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes net/ipv4/ip_forward
  net/bridge/bridge-nf-call-iptables)

# The state dir: argument, else KATA_CLUSTER_DIR, else the default. Absolute, because it is
# baked into configs and into the restart command run from another mount namespace.
state_dir() {
  local s=${1:-${KATA_CLUSTER_DIR:-/var/lib/kata-e2e-cluster}}
  case "$s" in
    /*) ;;
    *) s=$(pwd)/$s ;;
  esac
  s=${s%/}
  case "$s" in
    *[[:space:]]*) die "refusing state dir '$s': no spaces (it is written unquoted into configs)" ;;
    "" | / | /var | /var/lib | /tmp | /run | /root | /home | /opt)
      die "refusing state dir '$s': give a dedicated directory (it is deleted by down)" ;;
  esac
  printf '%s\n' "$s"
}

die() { echo "cluster: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%01ds' $(( d / 1000 )) $(( d % 1000 / 100 )); }

# A zombie counts as gone: the daemons' parent is PID 1 (up has exited), which here reaps late.
pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
pid_of() { cat "$STATE/run/$1.pid" 2>/dev/null || true; }

# stop_pid PID NAME SECONDS: SIGTERM, then SIGKILL after SECONDS.
stop_pid() {
  local pid=$1 name=$2 limit=${3:-15}
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$(( $(date +%s) + limit ))
  while pid_alive "$pid"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "$name (pid $pid) ignored SIGTERM for ${limit}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
      break
    fi
    sleep 0.1
  done
}

# stop_all SECONDS NAME...: stop_pid for several daemons at once (SIGTERM to all, then wait).
stop_all() {
  local limit=$1 n pid; shift
  for n in "$@"; do
    pid=$(pid_of "$n")
    ! pid_alive "$pid" || kill -TERM "$pid" 2>/dev/null || true
  done
  for n in "$@"; do stop_pid "$(pid_of "$n")" "$n" "$limit"; done
}

# Every process that belongs to this cluster: command line or executable naming the state dir
# (daemons, shims, the supervisor), or a cgroup under CGROUP_ROOT (the pods' processes).
cluster_pids() {
  local p cmd self
  self=" $(ancestors) "
  for p in /proc/[0-9]*; do
    [[ "$self" != *" ${p#/proc/} "* ]] || continue
    cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
    if [[ "$cmd" == *"$STATE/"* ]] || grep -q ":$CGROUP_ROOT/" "$p/cgroup" 2>/dev/null; then
      echo "${p#/proc/} $cmd"
    fi
  done
}

# This shell and its parents, which may name the state dir in their arguments (down's caller).
ancestors() {
  local p=$BASHPID
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    printf '%s ' "$p"
    p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
  done
}

# Mount points at or under the state dir, deepest first (the order to unmount them in).
cluster_mounts() {
  awk -v s="$STATE" '$5 == s || index($5, s "/") == 1 { print $5 }' /proc/self/mountinfo \
    | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

# The bridge and every interface enslaved to it (the pods' host-side veths).
cluster_links() {
  ip -o link show dev "$BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }'
  ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{ split($2, a, "@"); print a[1] }'
}

# KUBE-* and CNI-* chains in every table of iptables and ip6tables (nft and legacy backends),
# as "<command> <table> <chain>".
netfilter_chains() {
  local cmd table
  for cmd in iptables-nft ip6tables-nft iptables-legacy ip6tables-legacy; do
    command -v "$cmd-save" >/dev/null || continue
    "$cmd-save" 2>/dev/null | awk -v c="$cmd" '
      /^\*/ { table = substr($0, 2) }
      /^:(KUBE-|CNI-)/ { print c, table, substr($1, 2) }'
  done
}

# nftables tables, one "family name" a line (what iptables-nft and kube-proxy create).
nft_tables() {
  command -v nft >/dev/null || return 0
  nft list tables 2>/dev/null | awk '{ print $2, $3 }' | sort
}

# Named network namespaces. The cluster's containerd keeps its pods' namespaces under its state
# dir (they show in cluster_mounts); this list is compared with the one `up` found.
named_netns() {
  ls /run/netns 2>/dev/null || true
}

# Mount points of every cgroup hierarchy: the v1 controllers and the v2 one (hybrid here).
cgroup_hierarchies() {
  awk '$0 ~ / - cgroup2? / { print $5 }' /proc/self/mountinfo | sort -u
}

# cgroup directories under CGROUP_ROOT, in every hierarchy, deepest first.
cluster_cgroups() {
  local h
  for h in $(cgroup_hierarchies); do
    [ -d "$h$CGROUP_ROOT" ] || continue
    find "$h$CGROUP_ROOT" -depth -type d 2>/dev/null
  done
}
