package dev.kataoperator.shim.network;

import java.util.Objects;

/**
 * Pod networking failed. {@link #kind()} says what class of failure it was; the message names the
 * namespace, the interface and the command involved, and what to do about it.
 */
public class NetworkException extends RuntimeException {
  /** What went wrong, for callers that react differently (e.g. map to a gRPC/ttrpc code). */
  public enum Kind {
    /** The network namespace path does not exist or is not a network namespace. */
    NETNS_UNAVAILABLE,
    /** An interface in the namespace cannot be connected to the VM (type, MAC clash, naming). */
    UNSUPPORTED_INTERFACE,
    /** Something is already there that attach would have to create or own (a tap, a qdisc). */
    BUSY,
    /** An ip/tc/nsenter command failed or timed out. */
    COMMAND_FAILED,
    /** An ip/tc command printed JSON this code does not understand. */
    BAD_OUTPUT,
    /** The guest agent refused the interface or route description. */
    GUEST_REJECTED
  }

  private final Kind kind;

  public NetworkException(Kind kind, String message) {
    super(message);
    this.kind = Objects.requireNonNull(kind);
  }

  public NetworkException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = Objects.requireNonNull(kind);
  }

  public Kind kind() {
    return kind;
  }
}
