#!/usr/bin/env bash
# The main job, end to end as far as the project goes today:
#  1. kata-run: a container in a QEMU microVM with our guest kernel, agent and crun;
#  2. the node payload installed under a private prefix, and a private containerd (Debian's 1.6)
#     with a kata-qemu CRI runtime handler and a CNI bridge: a pod started with crictl as kubelet
#     would, serving HTTP on its pod IP from inside its VM.
# Everything it starts it stops; everything it creates is under a temp dir or removed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kata_run="$root/shim/bin/kata-run"
work=$(mktemp -d /tmp/kata-demo.XXXXXX)
ctd_pid=""
cleanup() {
  set +e
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
      for console in /run/kata/shim/*/*/console.log; do
        [ -f "$console" ] || continue
        echo "  guest console $console:"
        tail -n 10 "$console" | sed 's/^/    /'
      done
    } >&2
    exit "$rc"
  fi
}

bash "$root/e2e/images/build-busybox.sh" "$root/build/images"
bash "$root/e2e/images/build-pause.sh" "$root/build/images"
rootfs="$work/busybox"
umoci raw unpack --image "$root/build/images/busybox-oci:latest" "$rootfs" >/dev/null 2>&1

say "1. kata-run: one container in one microVM"
echo "host kernel:  $(uname -r)"
t=$(date +%s%N)
guest=$(run "kata-run uname -r" timeout 300 "$kata_run" --rootfs "$rootfs" -- uname -r)
echo "guest kernel: $guest   ($(ms_since "$t") ms: JVM, boot, run, teardown)"
set +e; "$kata_run" --rootfs "$rootfs" -- sh -c 'exit 7'; echo "exit status of 'exit 7' in the VM: $?"; set -e
echo "hello through stdin" | run "kata-run with stdin" timeout 300 "$kata_run" --rootfs "$rootfs" -i -e WHO=demo -- sh -c 'read l; echo "$WHO got: $l"'

say "2. the node payload, installed under $work/opt-kata"
run "install the payload" make -C "$root" --no-print-directory -s install-payload PREFIX="$work/opt-kata"
ls -l "$work/opt-kata/bin/"

say "3. a pod through containerd's CRI, as kubelet would start it (runtime handler kata-qemu)"
mkdir -p "$work/net.d" "$work/logs"
cat > "$work/net.d/10-demo.conflist" <<JSON
{"cniVersion":"1.0.0","name":"kata-demo","plugins":[{"type":"bridge","bridge":"katademo0","isGateway":true,
 "ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.99.0/24"}]],
 "routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$work/ipam"}}]}
JSON
cat > "$work/containerd.toml" <<TOML
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/kata-pause:latest"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata-qemu]
    runtime_type = "io.containerd.kata-qemu.v2"
TOML
env -u KATA_CONFIG PATH="$work/opt-kata/bin:/usr/bin:$PATH" /usr/bin/containerd --config "$work/containerd.toml" \
  > "$work/containerd.log" 2>&1 &
ctd_pid=$!
export CONTAINER_RUNTIME_ENDPOINT="unix://$work/containerd.sock" IMAGE_SERVICE_ENDPOINT="unix://$work/containerd.sock"
for _ in $(seq 50); do [ -S "$work/containerd.sock" ] && break; sleep 0.1; done
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

say "done: containers ran in VMs with their own kernel ($(cat "$root/build/guest/kernel.release")), directly and through containerd's CRI"
echo "not in this demo yet: the operator on a real Kubernetes node (its tests run against a real kube-apiserver; see docs/operator.md)"
