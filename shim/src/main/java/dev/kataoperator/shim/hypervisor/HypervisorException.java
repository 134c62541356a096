package dev.kataoperator.shim.hypervisor;

/** A VM could not be configured, started or controlled. The message names cause and remedy. */
public class HypervisorException extends RuntimeException {
  public HypervisorException(String message) {
    super(message);
  }

  public HypervisorException(String message, Throwable cause) {
    super(message, cause);
  }
}
