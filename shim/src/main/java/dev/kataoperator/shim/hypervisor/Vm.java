package dev.kataoperator.shim.hypervisor;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A running VM. Closing it always leaves no process or socket behind. */
public interface Vm extends AutoCloseable {

  /** Host end of the agent channel: a unix socket connected to the guest's agent port. */
  Path agentSocket();

  /** PIDs of the hypervisor process and its helpers (virtiofsd), for cgroup placement. */
  List<Long> pids();

  /** Completes with the hypervisor's exit code when it exits, for whatever reason. */
  CompletableFuture<Integer> exited();

  /** Last lines of the guest console, for error messages when the guest died. */
  String consoleTail(int lines);

  /**
   * Stops the VM: waits up to {@code grace} for the guest to power off by itself (the agent does so
   * on DestroySandbox), then quits the hypervisor, then kills it.
   */
  void stop(Duration grace);

  /** The VM was restored from a template, not booted: it must adopt its own identity first. */
  default boolean restoredFromTemplate() {
    return false;
  }

  @Override
  default void close() {
    stop(Duration.ZERO);
  }
}
