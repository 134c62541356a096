# Sourced by both launchers of containerd-shim-kata-qemu-v2 (shim/bin, the payload's bin/).
#
# run_shim JAVA_COMMAND...: runs the shim JVM with containerd's arguments. For `start` one JVM
# answers and then serves the pod (ShimMain: KATA_SHIM_START_SERVES), instead of a start JVM that
# spawns a server JVM and waits for it: containerd waits for this process to exit and reads its
# stdout and stderr until every writer is gone, so the JVM runs in the background, answers on a
# FIFO this script copies to stdout, then points its stdio at /dev/null; this script exits with 0
# once it answered, or with the JVM's status when it ended without serving.
run_shim() {
  for last in "$@"; do :; done
  if [ "${last:-}" != start ]; then
    exec "$@"
  fi
  answer_dir=$(mktemp -d "${TMPDIR:-/tmp}/kata-shim-start.XXXXXX") || exit 1
  mkfifo -m 0600 "$answer_dir/answer" || { rm -rf "$answer_dir"; exit 1; }
  # A background job's stdin would be /dev/null: containerd's runtime options come on stdin.
  # The FIFO is opened read-write by the JVM, which never blocks: should containerd kill this
  # script before it reads, the JVM still answers (into the pipe) and serves until delete.
  exec 3<&0
  KATA_SHIM_START_SERVES=1 "$@" <&3 3<&- 1<>"$answer_dir/answer" &
  jvm=$!
  exec 3<&-
  cat "$answer_dir/answer"
  rm -rf "$answer_dir"
  if kill -0 "$jvm" 2>/dev/null; then
    exit 0
  fi
  wait "$jvm"
  exit $?
}
