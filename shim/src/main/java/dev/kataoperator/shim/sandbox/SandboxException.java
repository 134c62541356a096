package dev.kataoperator.shim.sandbox;

import dev.kataoperator.shim.errors.ShimException;

/** A sandbox or container operation failed; the message names the cause and what to do. */
public class SandboxException extends ShimException {
  private static final long serialVersionUID = 1L;

  /** A failure of the sandbox or its host (INTERNAL). */
  public SandboxException(String message) {
    this(Kind.INTERNAL, message, null);
  }

  public SandboxException(String message, Throwable cause) {
    this(Kind.INTERNAL, message, cause);
  }

  public SandboxException(Kind kind, String message) {
    this(kind, message, null);
  }

  public SandboxException(Kind kind, String message, Throwable cause) {
    super(kind, message, cause);
  }
}
