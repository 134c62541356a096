#!/usr/bin/env bash
# Runs containerd/shimtest's conformance suites (a Go library, driven by shimtest_test.go here)
# against our shim binary, one suite per test-binary run with its own time limit, and prints per
# suite pass/fail/skip counts. Results: $SHIMTEST_OUT/results.txt (default e2e/shimtest/target),
# lines "RESULT <suite> <test> <PASS|FAIL|SKIP|TIMEOUT>" and "LEAK <suite> <shim -id>", and one
# log per suite. Exits 0 whatever the results: the JUnit ShimtestTest decides what must pass.
#
#   e2e/shimtest/run.sh [Suite...]   suites: Run Exec OOM Transfer UDS Layers Network (default all)
#
# Env: SHIM_BINARY (default: the source tree's launcher), KATA_CONFIG (default:
# $KATA_GUEST_DIR/kata-qemu.toml, else build/guest/kata-qemu.toml), SHIMTEST_OUT.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PATH="/usr/local/go/bin:$PATH" GOFLAGS=-mod=mod
export SHIM_BINARY="${SHIM_BINARY:-$root/shim/bin/containerd-shim-kata-qemu-v2}"
export KATA_CONFIG="${KATA_CONFIG:-${KATA_GUEST_DIR:-$root/build/guest}/kata-qemu.toml}"
out="${SHIMTEST_OUT:-$here/target}"
mkdir -p "$out"
[ -x "$SHIM_BINARY" ] || { echo "shimtest: no shim at $SHIM_BINARY" >&2; exit 2; }
[ -f "$KATA_CONFIG" ] || { echo "shimtest: no config at $KATA_CONFIG (make guest)" >&2; exit 2; }

# The test binary and shimtest's testbin (a static multicall binary shimtest puts in each test's
# rootfs), both from the versions pinned in go.mod/go.sum.
(cd "$here" && go test -c -o "$out/shimtest.test" . &&
  CGO_ENABLED=0 go build -ldflags='-s -w' -o "$out/testbin" github.com/containerd/shimtest/cmd/testbin)
export SHIMTEST_TESTBIN="$out/testbin"

# Everything this run starts carries this marker in its environment, so that shims a test left
# running (shimtest only calls Shutdown on its happy paths, see docs/shimtest.md) are found and
# ended by pid, never by name: other people's VMs run on this machine too.
export KATA_SHIMTEST_RUN="$$-$RANDOM$RANDOM"
# A private, short TMPDIR (shimtest puts bundles and unix sockets there).
tmp=$(mktemp -d /tmp/kst-XXXXXX)
export TMPDIR="$tmp"
namespaces_before=$(ls -d /run/kata/shim/shimtest-* 2>/dev/null || true)

results="$out/results.txt"
: >"$results"

ours() { # pids of this run's shim JVMs
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qx "KATA_SHIMTEST_RUN=$KATA_SHIMTEST_RUN" || continue
    { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q 'dev.kataoperator.shim' && echo "${p#/proc/}"
  done
}

arg() { # arg <pid> <flag>: the value after <flag> in the process's argv
  tr '\0' '\n' <"/proc/$1/cmdline" | awk -v f="$2" 'p {print; exit} $0 == f {p = 1}'
}

reap() { # reap <suite>: end the shims the suite left running, then containerd's cleanup for each
  local suite=$1 pid id ns bundle
  for pid in $(ours); do
    id=$(arg "$pid" -id) ns=$(arg "$pid" -namespace) bundle=$(readlink "/proc/$pid/cwd" || true)
    echo "LEAK $suite $id" >>"$results"
    kill -KILL "$pid" 2>/dev/null || true # its QEMU and virtiofsd die with it (pdeathsig)
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    if [ -n "$bundle" ] && [ -d "$bundle" ]; then
      "$SHIM_BINARY" -namespace "$ns" -id "$id" -bundle "$bundle" delete >/dev/null 2>&1 || true
    fi
  done
}

run_suite() { # run_suite <Suite> <timeout seconds> [go test -skip regex]
  local suite=$1 limit=$2 skip=${3:-} log="$out/$1.log" start=$SECONDS
  "$out/shimtest.test" -test.v -test.short -test.timeout "${limit}s" -test.run "^Test$suite\$" \
    ${skip:+-test.skip "$skip"} >"$log" 2>&1 || true
  reap "$suite"
  # Top-level tests of the suite (subtests such as InitExitCodes/Exit42 count with their parent).
  sed -nE "s#^    --- (PASS|FAIL|SKIP): Test$suite/([^ ]+) .*#RESULT $suite \2 \1#p" "$log" >>"$results"
  # A suite that hit its time limit panics: the test that was running is a TIMEOUT.
  if grep -q '^panic: test timed out' "$log"; then
    sed -nE "s#^\t\tTest$suite/([^/ ]+) \(.*#RESULT $suite \1 TIMEOUT#p" "$log" | sort -u >>"$results"
  fi
  local p f s t
  p=$(grep -c "^RESULT $suite .* PASS$" "$results" || true)
  f=$(grep -cE "^RESULT $suite .* (FAIL|TIMEOUT)$" "$results" || true)
  s=$(grep -c "^RESULT $suite .* SKIP$" "$results" || true)
  printf 'shimtest %-9s %2d passed, %2d failed, %2d skipped  (%ds)\n' "$suite" "$p" "$f" "$s" $((SECONDS - start))
  grep -E "^RESULT $suite .* (FAIL|TIMEOUT)$" "$results" | while read -r _ _ t r; do
    # The test's first message line (file:line: message) says why.
    why=$(awk -v run="=== RUN   Test$suite/$t" '$0 == run {p = 1; next} p && /^=== RUN/ && index($0, run "/") == 0 {exit} p && /\.go:[0-9]+: / {sub(/^ +/, ""); print; exit}' "$log")
    echo "    $r $t: ${why:-see $log}"
  done || true
  grep "^LEAK $suite " "$results" | while read -r _ _ id; do echo "    left running (ended by run.sh): $id"; done || true
}

cleanup() {
  reap cleanup
  # Mounts a timed-out test left in its bundle, then the run's temp files.
  awk -v t="$tmp/" 'index($5, t) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$tmp"
  # The shim leaves an empty /run/kata/shim/<namespace> behind; remove this run's empty ones.
  local d
  for d in $(ls -d /run/kata/shim/shimtest-* 2>/dev/null || true); do
    grep -qxF "$d" <<<"$namespaces_before" || rmdir "$d" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap "exit 143" TERM INT

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(Run Exec OOM Transfer UDS Layers Network)
for s in "${suites[@]}"; do
  case $s in
    Run) run_suite Run 100 ;;
    Exec) run_suite Exec 150 ;;
    # OutboundUDP never ends: its init sends to the host's 127.0.0.1, which in a VM is the
    # guest's own loopback, then waits for a reply without a deadline.
    Network) run_suite Network 60 'TestNetwork/OutboundUDP' ;;
    *) run_suite "$s" 60 ;;
  esac
done
