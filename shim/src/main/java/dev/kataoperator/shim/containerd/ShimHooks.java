package dev.kataoperator.shim.containerd;

/** What the shim's entry point ({@link ShimMain}) needs from the rest of the shim. */
public interface ShimHooks {
  /** The backend for a new long-lived shim server (one per pod). */
  TaskBackend newBackend(ShimContext context) throws Exception;

  /**
   * containerd's {@code delete}: the shim serving {@code context.id()} is gone (crashed, killed);
   * clean what it left (VM process, sockets, mounts). Must be idempotent and quick (containerd
   * gives it 5 s by default).
   */
  void cleanup(ShimContext context) throws Exception;
}
