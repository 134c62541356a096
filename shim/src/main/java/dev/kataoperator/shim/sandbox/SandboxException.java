package dev.kataoperator.shim.sandbox;

/** A sandbox or container operation failed; the message names the cause and what to do. */
public class SandboxException extends RuntimeException {
  public SandboxException(String message) {
    super(message);
  }

  public SandboxException(String message, Throwable cause) {
    super(message, cause);
  }
}
