package dev.kataoperator.shim.agent;

import dev.kataoperator.shim.errors.ShimException;
import dev.kataoperator.shim.ttrpc.Code;
import dev.kataoperator.shim.ttrpc.TtrpcException;

/** The guest agent refused or failed a call; its kind is the agent's status code. */
public class AgentException extends ShimException {
  private static final long serialVersionUID = 1L;

  private final TtrpcException status;

  private AgentException(String message, TtrpcException status) {
    super(kindOf(status.code()), message, status);
    this.status = status;
  }

  static AgentException from(String method, TtrpcException e) {
    return new AgentException("agent " + method + ": " + e.statusMessage(), e);
  }

  /** The ttrpc status the agent answered with (NOT_FOUND, INVALID_ARGUMENT, ...). */
  public TtrpcException status() {
    return status;
  }

  static Kind kindOf(Code code) {
    return switch (code) {
      case NOT_FOUND -> Kind.NOT_FOUND;
      case ALREADY_EXISTS -> Kind.ALREADY_EXISTS;
      case INVALID_ARGUMENT, OUT_OF_RANGE -> Kind.INVALID_ARGUMENT;
      case FAILED_PRECONDITION, ABORTED -> Kind.FAILED_PRECONDITION;
      case UNAVAILABLE -> Kind.UNAVAILABLE;
      case DEADLINE_EXCEEDED -> Kind.DEADLINE_EXCEEDED;
      case UNIMPLEMENTED -> Kind.UNIMPLEMENTED;
      case RESOURCE_EXHAUSTED -> Kind.RESOURCE_EXHAUSTED;
      case PERMISSION_DENIED, UNAUTHENTICATED -> Kind.PERMISSION_DENIED;
      case CANCELLED -> Kind.CANCELLED;
      default -> Kind.INTERNAL;
    };
  }
}
