package dev.kataoperator.shim.agent;

import dev.kataoperator.shim.ttrpc.TtrpcException;

/** The guest agent refused or failed a call; carries the ttrpc status for callers to map. */
public class AgentException extends RuntimeException {
  private final TtrpcException status;

  private AgentException(String message, TtrpcException status) {
    super(message, status);
    this.status = status;
  }

  static AgentException from(String method, TtrpcException e) {
    return new AgentException("agent " + method + ": " + e.getMessage(), e);
  }

  /** The ttrpc status the agent answered with (NOT_FOUND, INVALID_ARGUMENT, ...). */
  public TtrpcException status() {
    return status;
  }
}
