package dev.kataoperator.installer.node;

/** The Kubernetes API did not take the installer's report (or could not be asked). */
public final class NodeReportException extends Exception {
  public NodeReportException(String message) {
    super(message);
  }

  public NodeReportException(String message, Throwable cause) {
    super(message, cause);
  }
}
