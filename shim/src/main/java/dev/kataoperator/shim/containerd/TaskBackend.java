package dev.kataoperator.shim.containerd;

import com.google.protobuf.Any;
import dev.kataoperator.shim.containerd.api.types.Mount;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * What the containerd task service needs from the sandbox layer: one instance per shim (per pod),
 * serving every container of the pod. The task service ({@link TaskService}) does the containerd
 * bookkeeping: it checks ids (NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION), opens stdio, keeps
 * process state for State/Wait/Connect, and publishes every event, in order. The backend only acts.
 *
 * <p>Identity: a container's init process has execId {@code ""}; an exec has the id containerd
 * chose. Exit status: exit code, or 128+N when killed by signal N.
 *
 * <p>Errors: throw {@link dev.kataoperator.shim.ttrpc.TtrpcException} with a code to choose the
 * status containerd sees; other exceptions are mapped by {@link
 * dev.kataoperator.shim.ttrpc.TtrpcException#from} (e.g. IllegalArgumentException becomes
 * INVALID_ARGUMENT, anything unknown UNKNOWN with its message). Methods may be called concurrently
 * for different containers and processes.
 */
public interface TaskBackend {

  /** How a process ended. */
  record Exit(int pid, int status, Instant exitedAt) {}

  /**
   * A container to create (not start).
   *
   * @param bundle the OCI bundle directory (config.json, rootfs/)
   * @param rootfs mounts containerd prepared for the rootfs; empty when rootfs/ is already there
   * @param io the init process's stdio; the backend copies to/from it (see {@link ProcessIo})
   * @param options runtime options from containerd (see {@link RuntimeOptions}), if any
   */
  record CreateRequest(
      String containerId,
      Path bundle,
      List<Mount> rootfs,
      ProcessIo io,
      Optional<Any> options,
      String checkpoint) {}

  /**
   * Creates a container; the pod's first one (the sandbox/pause container, whose id is the shim's
   * grouping id) boots the VM. Returns the pid containerd shows for the init process (a guest pid,
   * or any stable positive number).
   */
  int create(CreateRequest request) throws Exception;

  /** Starts the init process (execId "") or an exec; returns its pid. */
  int start(String containerId, String execId) throws Exception;

  /**
   * Registers an exec process (started later by {@link #start}).
   *
   * @param processSpec the OCI process spec, as containerd sends it (type_url
   *     "types.containerd.io/opencontainers/runtime-spec/1/Process", JSON in value)
   */
  void exec(String containerId, String execId, ProcessIo io, Any processSpec) throws Exception;

  /**
   * Blocks until the process exits and returns how. Called once per started process by the task
   * service; may return immediately for a process that already exited.
   */
  Exit await(String containerId, String execId) throws Exception;

  /** Signals the process; {@code all}: every process in the container. */
  void kill(String containerId, String execId, int signal, boolean all) throws Exception;

  /**
   * Releases the process (for init: the whole container). Called for exited processes and for
   * created-but-never-started ones. Returns its exit (for a never-started one: status 0 or the
   * backend's choice, exitedAt now).
   */
  Exit delete(String containerId, String execId) throws Exception;

  /** Resizes the process's terminal. */
  void resizePty(String containerId, String execId, int width, int height) throws Exception;

  /**
   * containerd closed the process's stdin: once the backend has delivered what it read from {@link
   * ProcessIo#stdin()} (which now ends), it closes the guest process's stdin.
   */
  void closeStdin(String containerId, String execId) throws Exception;

  /** Pids of the container's processes, beyond the init and exec pids the task service knows. */
  default List<Integer> pids(String containerId) throws Exception {
    return List.of();
  }

  /** Container metrics, e.g. an io.containerd.cgroups.v1.Metrics in an Any. */
  Any stats(String containerId) throws Exception;

  /** Updates resources (an OCI LinuxResources in an Any, JSON) and annotations. */
  void update(String containerId, Any resources, Map<String, String> annotations) throws Exception;

  void pause(String containerId) throws Exception;

  void resume(String containerId) throws Exception;

  /**
   * The shim is about to exit: no container is left (or containerd said "now"). Tear the VM down.
   * Called at most once.
   */
  void shutdown() throws Exception;

  /** Subscribes the task service to OOM kills (container id); it publishes TaskOOM for each. */
  default void onOom(Consumer<String> listener) {}
}
