#!/usr/bin/env bash
# The main job, as a user does it:
#  1. a short first act below Kubernetes: kata-run (a container in a QEMU microVM with our guest
#     kernel, agent and crun), then a pod through a private containerd's CRI with crictl;
#  2. the user's job: a single-node Kubernetes from upstream parts (e2e/cluster/up), the operator
#     and installer images built offline and imported, `helm install` of the operator, a KataConfig
#     (software emulation allowed: these machines have no usable KVM), the node installed by the
#     installer DaemonSet, then a pod with runtimeClassName kata beside a runc pod, each showing
#     its kernel and boot_id; `kubectl get kataconfig` and the node's labels.
# Everything it starts it stops and everything it creates it removes, unless KEEP=1 (the cluster,
# the operator and the pods stay; the kubeconfig path is printed). Each step prints its duration;
# a failing step prints its command, its error and the logs that explain it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kata_run="$root/shim/bin/kata-run"
work=$(mktemp -d /tmp/kata-demo.XXXXXX)
ctd_pid=""
cluster_dir=${KATA_DEMO_CLUSTER_DIR:-/var/lib/kata-demo-cluster}
cluster_up=""
cleanup() {
  set +e
  if [ -n "$cluster_up" ] && [ "${KEEP:-0}" != 1 ]; then
    say "cleaning up: the KataConfig (uninstall), the operator, the cluster"
    kubectl delete -f "$root/examples/pod.yaml" -f "$root/examples/pod-runc.yaml" --ignore-not-found --wait=true --timeout=3m >/dev/null 2>&1
    kubectl delete kataconfig cluster --ignore-not-found --wait=true --timeout=6m >/dev/null 2>&1
    "$helm" uninstall kata-operator -n kata-operator-system --wait --timeout 4m >/dev/null 2>&1
    "$root/e2e/cluster/down" "$cluster_dir" >/dev/null
  elif [ -n "$cluster_up" ]; then
    echo "KEEP=1: the cluster stays. export KUBECONFIG=$cluster_dir/admin.kubeconfig; remove it with: e2e/cluster/down $cluster_dir"
  fi
  if [ -n "$ctd_pid" ]; then
    crictl rmp -af >/dev/null 2>&1
    kill "$ctd_pid" 2>/dev/null; wait "$ctd_pid" 2>/dev/null
  fi
  ip link del katademo0 2>/dev/null
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# Every client call gets a timeout that fits a pod start under software emulation on a slow
# machine (crictl's own default is a few seconds).
crictl() { command crictl --timeout 120s "$@"; }
ctr() { /usr/bin/ctr --timeout 120s "$@"; }

# run WHAT COMMAND...: runs COMMAND, keeping its stderr; on failure says what failed, shows that
# stderr and the last lines of the logs that explain it (containerd's, which carries the shim's,
# and the guest consoles), and stops the demo. Never a bare "Error 1".
run() {
  local what=$1; shift
  local err="$work/last.err" rc=0
  "$@" 2>"$err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    {
      echo "demo: FAILED: $what (exit $rc)"
      echo "  command: $*"
      sed 's/^/  stderr: /' "$err" | tail -n 20
      if [ -f "$work/containerd.log" ]; then
        echo "  last lines of containerd's log (with the shim's):"
        tail -n 25 "$work/containerd.log" | sed 's/^/    /'
      fi
    } >&2
    exit "$rc"
  fi
}

helm=/opt/kata-dev-tools/bin/helm
kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG" --request-timeout=120s "$@"; }

# step NAME: starts a timed step; step_done prints its duration.
step() { step_name=$1; step_t=$(date +%s%N); say "$1"; }
step_done() { echo "   ($step_name: $(( ($(date +%s%N) - step_t) / 1000000000 )) s)"; }

# wait_for WHAT SECONDS COMMAND...: polls COMMAND, printing progress every 10 s, never silent.
wait_for() {
  local what=$1 limit=$2 t0; shift 2; t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    local waited=$(( $(date +%s) - t0 ))
    [ "$waited" -lt "$limit" ] || { echo "demo: FAILED: $what: not after $limit s" >&2; return 1; }
    [ $(( waited % 10 )) -ne 0 ] || progress "$what" "$waited"
    sleep 1
  done
}
kataconfig_ready() {
  [ "$(kubectl get kataconfig cluster -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
progress() {
  local phase
  phase=$(kubectl get kataconfig cluster -o jsonpath='{.status.nodes[0].phase}' 2>/dev/null || true)
  echo "   ... $1 (${2} s${phase:+; node: $phase})"
}

act2() {
  step "2. a Kubernetes node from upstream parts (etcd, kube-apiserver, kubelet, containerd 2.2)"
  cluster_up=1
  run "start the local cluster" "$root/e2e/cluster/up" "$cluster_dir" >/dev/null
  # shellcheck disable=SC1091
  . "$cluster_dir/cluster.env"
  kubectl get nodes -o wide
  step_done

  step "3. the operator and installer images, built offline and imported into the node's containerd"
  run "build the images" make -C "$root" --no-print-directory -s images
  for image in "$root/build/images/kata-operator.oci.tar" "$root/build/runtime-node-installer.oci.tar"; do
    run "import $(basename "$image")" "$CTR" --address "$CONTAINERD_ADDRESS" -n k8s.io images import "$image" >/dev/null
  done
  "$CTR" --address "$CONTAINERD_ADDRESS" -n k8s.io images ls -q | grep kata-operator
  step_done

  step "4. helm install kata-operator ./helm/kata-operator"
  local pid_args=()
  [ "$HOST_NS_PID" = 1 ] || pid_args=(--set-string "installer.hostNamespacesPid=$HOST_NS_PID")
  run "helm install" "$helm" --kubeconfig "$KUBECONFIG" install kata-operator "$root/helm/kata-operator" \
    --namespace kata-operator-system --create-namespace --wait --timeout 8m "${pid_args[@]}" >/dev/null
  kubectl -n kata-operator-system get deploy,pods
  step_done

  step "5. kubectl apply a KataConfig (software emulation allowed; this node's containerd)"
  cat > "$work/kataconfig.yaml" <<YAML
$(sed '/^  containerd:/,$d' "$root/examples/kataconfig-tcg.yaml")
  containerd:
    flavor: containerd
    configPath: $CONTAINERD_CONFIG
    restartMethod: command
    restartCommand: ["$CONTAINERD_RESTART_COMMAND"]
YAML
  run "apply the KataConfig" kubectl apply -f "$work/kataconfig.yaml" >/dev/null
  wait_for "KataConfig Ready" 600 kataconfig_ready || { kubectl describe kataconfig cluster >&2; kubectl -n kata-operator-system logs -l app.kubernetes.io/name=runtime-node-installer --tail=30 >&2; exit 1; }
  kubectl get kataconfig
  kubectl get runtimeclass
  echo "node labels and annotations the installer wrote:"
  kubectl get node "$NODE_NAME" -o json | jq -r '(.metadata.labels + .metadata.annotations) | to_entries[] | select(.key | startswith("kataoperator.dev/")) | "   \(.key)=\(.value)"'
  step_done

  step "6. a pod with runtimeClassName: kata beside a runc pod"
  run "apply the pods" kubectl apply -f "$root/examples/pod.yaml" -f "$root/examples/pod-runc.yaml" >/dev/null
  run "kata pod Ready" kubectl wait --for=condition=Ready pod/kata-pod pod/runc-pod --timeout=300s >/dev/null
  printf '   %-10s %-26s %s\n' pod kernel boot_id
  printf '   %-10s %-26s %s\n' node "$(uname -r)" "$(cat /proc/sys/kernel/random/boot_id)"
  for pod in kata-pod runc-pod; do
    k=$(run "uname in $pod" kubectl exec "$pod" -- uname -r)
    b=$(run "boot_id in $pod" kubectl exec "$pod" -- cat /proc/sys/kernel/random/boot_id)
    printf '   %-10s %-26s %s\n' "$pod" "$k" "$b"
  done
  step_done
  say "done: a pod ran in a VM on a Kubernetes node that the operator installed from a KataConfig"
}

bash "$root/e2e/images/build-busybox.sh" "$root/build/images"
bash "$root/e2e/images/build-pause.sh" "$root/build/images"
rootfs="$work/busybox"
umoci raw unpack --image "$root/build/images/busybox-oci:latest" "$rootfs" >/dev/null 2>&1

say "1a. kata-run: one container in one microVM"
echo "host kernel:  $(uname -r)"
t=$(date +%s%N)
guest=$(run "kata-run uname -r" timeout 300 "$kata_run" --rootfs "$rootfs" -- uname -r)
echo "guest kernel: $guest   ($(ms_since "$t") ms: JVM, boot, run, teardown)"
set +e; "$kata_run" --rootfs "$rootfs" -- sh -c 'exit 7'; echo "exit status of 'exit 7' in the VM: $?"; set -e
echo "hello through stdin" | run "kata-run with stdin" timeout 300 "$kata_run" --rootfs "$rootfs" -i -e WHO=demo -- sh -c 'read l; echo "$WHO got: $l"'

say "1b. the node payload, installed under $work/opt-kata"
run "install the payload" make -C "$root" --no-print-directory -s install-payload PREFIX="$work/opt-kata"
ls -l "$work/opt-kata/bin/"

say "1c. a pod through containerd's CRI, as kubelet would start it (runtime handler kata-qemu)"
mkdir -p "$work/net.d" "$work/logs"
# The node setup the CRI tests use too (e2e/fixtures/cri): a CNI bridge, the administrator's
# containerd config; the kata-qemu handler added to it, as the installer adds it.
fixture="$root/e2e/fixtures/cri"
sed -e "s|@NAME@|katademo0|g" -e "s|@SUBNET@|10.88.99|g" -e "s|@IPAM_DIR@|$work/ipam|g" \
  "$fixture/bridge.conflist" > "$work/net.d/10-demo.conflist"
{
  sed -e "s|@NETD@|$work/net.d|g" -e "s|@OPT@|$work/containerd/opt|g" "$fixture/containerd.toml"
  cat <<'TOML'
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-qemu]
  runtime_type = "io.containerd.kata-qemu.v2"
TOML
} > "$work/containerd.toml"
env -u KATA_CONFIG PATH="$work/opt-kata/bin:/usr/bin:$PATH" /usr/bin/containerd --config "$work/containerd.toml" \
  --root "$work/containerd/root" --state "$work/containerd/state" --address "$work/containerd.sock" \
  > "$work/containerd.log" 2>&1 &
ctd_pid=$!
export CONTAINER_RUNTIME_ENDPOINT="unix://$work/containerd.sock" IMAGE_SERVICE_ENDPOINT="unix://$work/containerd.sock"
for _ in $(seq 100); do [ -S "$work/containerd.sock" ] && break; sleep 0.1; done
for img in pause busybox; do run "import $img" ctr -a "$work/containerd.sock" -n k8s.io images import "$root/build/images/$img.tar" >/dev/null; done
cat > "$work/pod.json" <<JSON
{"metadata":{"name":"demo-pod","namespace":"default","uid":"demo","attempt":1},"hostname":"demo-pod","log_directory":"$work/logs","linux":{}}
JSON
cat > "$work/web.json" <<'JSON'
{"metadata":{"name":"web"},"image":{"image":"docker.io/library/busybox:latest"},
 "command":["sh","-c","mkdir -p /www && echo \"hello from $(uname -r) in pod $(hostname)\" > /www/index.html && exec httpd -f -p 8080 -h /www"],
 "log_path":"web.log","linux":{}}
JSON
t=$(date +%s%N)
pod=$(run "start the pod (crictl runp)" crictl runp --runtime kata-qemu "$work/pod.json")
echo "pod sandbox $pod ready in $(ms_since "$t") ms (VM booted, CNI network attached to it)"
web=$(run "create the web container" crictl create "$pod" "$work/web.json" "$work/pod.json")
run "start the web container" crictl start "$web" >/dev/null
ip=$(run "inspect the pod" crictl inspectp "$pod" | jq -r .status.network.ip)
echo "pod IP: $ip"
for _ in $(seq 50); do out=$(timeout 3 busybox wget -q -O - "http://$ip:8080/" 2>/dev/null || true); [ -n "$out" ] && break; sleep 0.2; done
[ -n "$out" ] || { echo "demo: FAILED: no answer from http://$ip:8080/ (the pod's web server in its VM)" >&2; exit 1; }
echo "GET http://$ip:8080/ from the host -> $out"
in_pod=$(run "exec in the pod" crictl exec "$web" uname -r)
echo "crictl exec uname -r -> $in_pod"
run "stop the web container" crictl stop "$web" >/dev/null
run "remove the web container" crictl rm "$web" >/dev/null
run "stop the pod" crictl stopp "$pod" >/dev/null
run "remove the pod" crictl rmp "$pod" >/dev/null
sleep 1
echo "pod removed; its VMs left running: $(pgrep -fc "qemu-system.*/run/kata/shim/k8s.io/$pod" || true)"
kill "$ctd_pid" 2>/dev/null; wait "$ctd_pid" 2>/dev/null; ctd_pid=""
ip link del katademo0 2>/dev/null || true

act2
