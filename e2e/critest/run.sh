#!/usr/bin/env bash
# Runs critest (cri-tools' CRI validation suite, v1.36.0) against a private containerd whose CRI
# plugin has the runtime handler under test, with critest's images served by a loopback registry
# (Debian's docker-registry) that containerd reaches through config_path hosts.toml for every
# registry name critest uses. Everything it starts is stopped and removed at exit.
#
#   e2e/critest/run.sh [extra critest/ginkgo flags...]
#
# Env:
#   SHIM_DIR        directory with containerd-shim-kata-qemu-v2 (default: the tree's shim/bin; the
#                   JUnit test passes an installed payload's PREFIX/bin)
#   KATA_CONFIG     the shim's config (default: the payload's own; with the tree's launcher,
#                   ${KATA_GUEST_DIR:-build/guest}/kata-qemu.toml)
#   HANDLER         runtime handler: kata-qemu (default) or runc (the baseline)
#   CONTAINERD      1.6 (Debian's, default) or 2.2 (/opt/kata-dev-tools/bin)
#   PARALLEL        ginkgo nodes (default 6: a spec mostly waits on polls and VM boots)
#   CRITEST_OUT     results directory (default e2e/target/critest)
#   CRITEST_FOCUS   a ginkgo focus regex (default: every spec not skipped by skipped-specs.txt)
#
# Results in $CRITEST_OUT: report.json (ginkgo JSON report), junit.xml, critest.log, containerd.log.
# Exits with critest's status; the JUnit CritestTest decides which failures are expected.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-/opt/kata-dev-tools}
export PATH="$TOOLS_DIR/bin:/usr/local/go/bin:$PATH"
HANDLER=${HANDLER:-kata-qemu}
CONTAINERD=${CONTAINERD:-1.6}
PARALLEL=${PARALLEL:-6}
SHIM_DIR=${SHIM_DIR:-$root/shim/bin}
if [ "$(cd "$SHIM_DIR" && pwd)" = "$root/shim/bin" ] && [ -z "${KATA_CONFIG:-}" ]; then
  export KATA_CONFIG=${KATA_GUEST_DIR:-$root/build/guest}/kata-qemu.toml
fi
out=${CRITEST_OUT:-$root/e2e/target/critest}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Fixed by critest: its port-mapping specs use host ports 12000-12002 and the host-network web
# server listens on 12003.
SUBNET=10.88.66
BRIDGE=katacrit0

case $CONTAINERD in
  1.6) containerd_bin=/usr/bin/containerd ;;
  2.2) containerd_bin=$TOOLS_DIR/bin/containerd ;;
  *) echo "critest: CONTAINERD must be 1.6 or 2.2" >&2; exit 2 ;;
esac
for b in "$containerd_bin" "$TOOLS_DIR/bin/critest" "$TOOLS_DIR/bin/ginkgo" "$TOOLS_DIR/bin/crictl" \
  /usr/bin/docker-registry /usr/bin/skopeo; do
  [ -x "$b" ] || { echo "critest: $b is missing; run 'make setup'" >&2; exit 2; }
done
if [ "$HANDLER" = kata-qemu ] && [ ! -x "$SHIM_DIR/containerd-shim-kata-qemu-v2" ]; then
  echo "critest: no containerd-shim-kata-qemu-v2 in $SHIM_DIR" >&2; exit 2
fi
for port in 12000 12001 12002 12003; do
  if ss -Htln "sport = :$port" | grep -q .; then
    echo "critest: host port $port is in use; critest's networking specs need it" >&2; exit 2
  fi
done

# The run's marker: every shim, QEMU and virtiofsd it starts inherits it from containerd, so that
# whatever a failed spec left behind is found by pid, never by name (others run VMs here too).
export KATA_CRITEST_RUN="$$-$RANDOM$RANDOM"
tmp=$(mktemp -d /tmp/kcrit-XXXXXX)
# critest puts its pods under the cgroup parent "critest" (containerd 1.6 has no RuntimeConfig to
# ask for another); runc leaves that parent behind. Removed at exit unless it was there before.
critest_cgroups_before=$(ls -d /sys/fs/cgroup/*/critest 2>/dev/null || true)
registry_pid="" containerd_pid=""
sock="$tmp/containerd.sock"

crictl() { "$TOOLS_DIR/bin/crictl" --timeout 120s --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" "$@"; }

ours() { # shims, QEMUs and virtiofsds that carry this run's marker
  local p
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qE 'dev\.kataoperator\.shim|qemu-system|virtiofsd|containerd-shim' || continue
    { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qx "KATA_CRITEST_RUN=$KATA_CRITEST_RUN" && echo "${p#/proc/}"
  done
}

arg() { # arg <pid> <flag>: the value after <flag> in the process's argv
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | awk -v f="$2" 'p {print; exit} $0 == f {p = 1}'
}

cleanup() {
  local rc=$? pid m i
  set +e
  if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
    # Pods a failed spec left: removed through CRI, so that CNI (bridge, portmap's iptables
    # rules, the netns) and the shims clean up as they would under kubelet.
    crictl rmp -af >/dev/null 2>&1
    kill "$containerd_pid"
    for i in $(seq 100); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$containerd_pid" 2>/dev/null
  fi
  # Anything of this run still alive (a shim whose pod containerd could not remove).
  for pid in $(ours); do
    echo "critest: ending leftover process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)" >&2
    local id ns bundle
    id=$(arg "$pid" -id) ns=$(arg "$pid" -namespace) bundle=$(readlink "/proc/$pid/cwd")
    kill -KILL "$pid" 2>/dev/null # a shim's QEMU and virtiofsd die with it (pdeathsig)
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    # containerd's cleanup for a dead shim: its mounts, taps and run directory.
    if [ -n "$id" ] && [ -d "$bundle" ] && [ -x "$SHIM_DIR/containerd-shim-kata-qemu-v2" ]; then
      "$SHIM_DIR/containerd-shim-kata-qemu-v2" -namespace "$ns" -id "$id" -bundle "$bundle" delete >/dev/null 2>&1
    fi
  done
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  ip link del "$BRIDGE" 2>/dev/null
  for m in /sys/fs/cgroup/*/critest; do
    [ -d "$m" ] && ! grep -qxF "$m" <<<"$critest_cgroups_before" && find "$m" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- images and the loopback registry -----------------------------------------------------
images="$root/build/critest/images"
bash "$here/build-images.sh" "$images"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$tmp/registry.yml" >"$out/registry.log" 2>&1 &
registry_pid=$!
for i in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  kill -0 "$registry_pid" 2>/dev/null || { echo "critest: the registry exited:" >&2; cat "$out/registry.log" >&2; exit 1; }
  [ "$i" -lt 300 ] || { echo "critest: the registry did not answer on 127.0.0.1:$port" >&2; exit 1; }
  sleep 0.1
done
while read -r tag path; do
  skopeo copy --quiet --dest-tls-verify=false "oci:$images/oci:$tag" "docker://127.0.0.1:$port/$path"
done <"$images/images.txt"
echo "critest: registry on 127.0.0.1:$port serves $(wc -l <"$images/images.txt") images" >&2

# containerd resolves every name critest pulls to the loopback registry; paths stay the same.
for host in registry.k8s.io gcr.io k8s.gcr.io; do
  mkdir -p "$tmp/certs.d/$host"
  cat >"$tmp/certs.d/$host/hosts.toml" <<EOF
server = "https://$host"

[host."http://127.0.0.1:$port"]
  capabilities = ["pull", "resolve"]
EOF
done

# --- containerd ---------------------------------------------------------------------------
mkdir -p "$tmp/net.d"
cat >"$tmp/net.d/10-critest.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "kata-critest", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUBNET.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$tmp/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
# Without CAP_SYS_RESOURCE (these machines' bounding set lacks it) no process may lower its
# oom_score_adj and runc fails every sandbox (CRI gives them -998): clamp to containerd's own.
restrict_oom=false
(( (16#$(awk '/^CapEff:/ { print $2 }' /proc/self/status) >> 24) & 1 )) || restrict_oom=true
# A version 2 config: containerd 2.x migrates it on load.
cat >"$tmp/config.toml" <<EOF
version = 2
root = "$tmp/root"
state = "$tmp/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  restrict_oom_score_adj = $restrict_oom
  # Pod network namespaces under the run's state dir, not the host's /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$tmp/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$tmp/certs.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-qemu]
    runtime_type = "io.containerd.kata-qemu.v2"
EOF
(
  export PATH="$SHIM_DIR:$(dirname "$containerd_bin"):$PATH"
  exec "$containerd_bin" --config "$tmp/config.toml"
) >"$out/containerd.log" 2>&1 &
containerd_pid=$!
for i in $(seq 300); do
  [ -S "$sock" ] && crictl info >/dev/null 2>&1 && break
  kill -0 "$containerd_pid" 2>/dev/null || { echo "critest: containerd exited:" >&2; tail -20 "$out/containerd.log" >&2; exit 1; }
  [ "$i" -lt 300 ] || { echo "critest: containerd did not come up" >&2; exit 1; }
  sleep 0.1
done
echo "critest: containerd $("$containerd_bin" --version | awk '{print $3}'), handler $HANDLER, $PARALLEL parallel nodes" >&2

# --- critest ------------------------------------------------------------------------------
skip=$(grep -v '^\s*#' "$here/skipped-specs.txt" | sed -E 's/[[:space:]]+#.*$//; /^[[:space:]]*$/d' | paste -sd'|')
rm -f "$out/report.json" "$out/junit.xml"
args=(
  --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock"
  --runtime-handler "$HANDLER" -parallel "$PARALLEL"
  --ginkgo.skip "$skip" --ginkgo.timeout 40m --ginkgo.no-color
  --ginkgo.json-report "$out/report.json" --ginkgo.junit-report "$out/junit.xml"
)
[ -n "${CRITEST_FOCUS:-}" ] && args+=(--ginkgo.focus "$CRITEST_FOCUS")
start=$SECONDS
status=0
# critest symlinks itself into TMPDIR for the ginkgo CLI; keep that in the run's directory.
TMPDIR="$tmp" "$TOOLS_DIR/bin/critest" "${args[@]}" "$@" >"$out/critest.log" 2>&1 || status=$?
echo "critest: finished with status $status in $((SECONDS - start)) s (log: $out/critest.log)" >&2
if [ -f "$out/report.json" ]; then
  jq -r '[.[].SpecReports[] | select(.LeafNodeType == "It") | .State] | group_by(.) | map("\(length) \(.[0])") | join(", ")' \
    "$out/report.json" | sed 's/^/critest: /' >&2
fi
exit "$status"
