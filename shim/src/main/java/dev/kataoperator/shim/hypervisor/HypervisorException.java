package dev.kataoperator.shim.hypervisor;

import dev.kataoperator.shim.errors.ShimException;

/** A VM could not be configured, started or controlled. The message names cause and remedy. */
public class HypervisorException extends ShimException {
  private static final long serialVersionUID = 1L;

  /** A failure of the VM or its host (INTERNAL). */
  public HypervisorException(String message) {
    this(Kind.INTERNAL, message, null);
  }

  public HypervisorException(String message, Throwable cause) {
    this(Kind.INTERNAL, message, cause);
  }

  public HypervisorException(Kind kind, String message, Throwable cause) {
    super(kind, message, cause);
  }
}
