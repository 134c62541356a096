package dev.kataoperator.shim.errors;

/**
 * The one base of the shim's own exceptions: every package's exception (agent, hypervisor, network,
 * sandbox, config) extends it and says, with a {@link Kind}, what class of failure it is.
 * containerd/'s error mapping turns the kind into the ttrpc status containerd sees, following the
 * cause chain, so a NOT_FOUND from the guest reaches containerd as NOT_FOUND.
 *
 * <p>Not {@code sealed}: the shim is an unnamed module, where a sealed class's subclasses would all
 * have to live in this package; each package keeps its exception next to its code instead.
 */
public abstract class ShimException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Classes of failure, named as containerd's errdefs and the gRPC codes name them. */
  public enum Kind {
    /** No such container, process, file or device. */
    NOT_FOUND,
    /** It exists already (an id in use, a tap or qdisc someone else owns). */
    ALREADY_EXISTS,
    /** The request or the configuration is wrong; retrying the same will fail the same way. */
    INVALID_ARGUMENT,
    /** The request is fine but the state is not (the VM died, the process has not started). */
    FAILED_PRECONDITION,
    /** Something needed is gone or not answering (the agent connection, QEMU). */
    UNAVAILABLE,
    /** A bounded wait ran out. */
    DEADLINE_EXCEEDED,
    /** Not supported by this runtime. */
    UNIMPLEMENTED,
    /** A limit was reached. */
    RESOURCE_EXHAUSTED,
    /** Not allowed. */
    PERMISSION_DENIED,
    /** The caller gave up. */
    CANCELLED,
    /** A failure of the shim or the host that says nothing about the request. */
    INTERNAL
  }

  private final Kind kind;

  protected ShimException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = java.util.Objects.requireNonNull(kind);
  }

  public Kind kind() {
    return kind;
  }
}
