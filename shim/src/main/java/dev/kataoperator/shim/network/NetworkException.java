package dev.kataoperator.shim.network;

import dev.kataoperator.shim.errors.ShimException;
import java.util.Objects;

/**
 * Pod networking failed. {@link #reason()} says what went wrong; the message names the namespace,
 * the interface and the command involved, and what to do about it.
 */
public class NetworkException extends ShimException {
  private static final long serialVersionUID = 1L;

  /** What went wrong, for callers that react differently. */
  public enum Reason {
    /** The network namespace path does not exist or is not a network namespace. */
    NETNS_UNAVAILABLE(Kind.NOT_FOUND),
    /** An interface in the namespace cannot be connected to the VM (type, MAC clash, naming). */
    UNSUPPORTED_INTERFACE(Kind.INVALID_ARGUMENT),
    /** Something is already there that attach would have to create or own (a tap, a qdisc). */
    BUSY(Kind.ALREADY_EXISTS),
    /** An ip/tc/nsenter command failed or timed out. */
    COMMAND_FAILED(Kind.INTERNAL),
    /** An ip/tc command printed JSON this code does not understand. */
    BAD_OUTPUT(Kind.INTERNAL),
    /** The guest agent refused the interface or route description. */
    GUEST_REJECTED(Kind.INVALID_ARGUMENT);

    private final Kind kind;

    Reason(Kind kind) {
      this.kind = kind;
    }
  }

  private final Reason reason;

  public NetworkException(Reason reason, String message) {
    this(reason, message, null);
  }

  public NetworkException(Reason reason, String message, Throwable cause) {
    super(Objects.requireNonNull(reason).kind, message, cause);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }
}
