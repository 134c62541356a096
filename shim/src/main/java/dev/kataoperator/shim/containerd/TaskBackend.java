package dev.kataoperator.shim.containerd;

import com.google.protobuf.Any;
import dev.kataoperator.shim.containerd.api.types.Mount;
import dev.kataoperator.shim.containerd.io.ProcessIo;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * What the containerd task service needs from the sandbox layer: one instance per shim (per pod),
 * serving every container of the pod. The task service ({@link TaskService}) keeps the process
 * table and does the containerd bookkeeping: it checks ids (NOT_FOUND, ALREADY_EXISTS,
 * FAILED_PRECONDITION), opens stdio, keeps process state for State/Wait/Connect, and publishes
 * every event, in order. The backend only acts, on the handles it returned.
 *
 * <p>Exit status: exit code, or 128+N when killed by signal N.
 *
 * <p>Errors: throw the package's {@link dev.kataoperator.shim.errors.ShimException} with the {@link
 * dev.kataoperator.shim.errors.ShimException.Kind} that says what went wrong; {@link Errors} maps
 * every failure to the status containerd sees. Handles may be called concurrently.
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
   * grouping id) boots the VM.
   */
  Container create(CreateRequest request) throws Exception;

  /**
   * The shim is about to exit: no container is left (or containerd said "now"). Tear the VM down.
   * Called at most once.
   */
  void shutdown() throws Exception;

  /** Subscribes the task service to OOM kills (container id); it publishes TaskOOM for each. */
  default void onOom(Consumer<String> listener) {}

  /** A created container: its init process and what acts on the container as a whole. */
  interface Container {
    /** The init process (not started yet). */
    Process init();

    /**
     * Registers an exec process (started later by {@link Process#start}).
     *
     * @param processSpec the OCI process spec, as containerd sends it (type_url
     *     "types.containerd.io/opencontainers/runtime-spec/1/Process", JSON in value)
     */
    Process exec(String execId, ProcessIo io, Any processSpec) throws Exception;

    /** Pids of the container's processes, beyond the init and exec pids the service knows. */
    default List<Integer> pids() throws Exception {
      return List.of();
    }

    /** Container metrics, e.g. an io.containerd.cgroups.v2.Metrics in an Any. */
    Any stats() throws Exception;

    /** Updates resources (an OCI LinuxResources in an Any, JSON) and annotations. */
    void update(Any resources, Map<String, String> annotations) throws Exception;

    void pause() throws Exception;

    void resume() throws Exception;
  }

  /** A container's init process or an exec. */
  interface Process {
    /** The pid containerd shows (known from creation on). */
    int pid();

    /** Starts the process; returns its pid. */
    int start() throws Exception;

    /**
     * Blocks until the process exits and returns how. Called once per started process by the task
     * service, after its output is closed; may return immediately for one that already exited.
     */
    Exit await() throws Exception;

    /** Signals the process; {@code all}: every process in the container. */
    void kill(int signal, boolean all) throws Exception;

    /**
     * Releases the process (for init: the whole container). Called for exited processes and for
     * created-but-never-started ones. Returns its exit (for a never-started one: status 0 or the
     * backend's choice, exitedAt now).
     */
    Exit delete() throws Exception;

    /** Resizes the process's terminal. */
    void resizePty(int width, int height) throws Exception;

    /**
     * containerd closed the process's stdin: once the backend has delivered what it read from
     * {@link ProcessIo#stdin()} (which now ends), it closes the guest process's stdin.
     */
    void closeStdin() throws Exception;
  }
}
