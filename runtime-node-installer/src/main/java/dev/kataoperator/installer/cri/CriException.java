package dev.kataoperator.installer.cri;

import java.nio.file.Path;

/** A CRI call that gave no usable answer. */
public final class CriException extends Exception {

  /** Why. */
  public enum Kind {
    /** The call failed: containerd down or restarting, its CRI plugin not loaded, a timeout. */
    CALL_FAILED,
    /** containerd answered, but not in the shape containerd 1.6 to 2.x use. */
    MALFORMED
  }

  private final Kind kind;
  private final String code;

  CriException(Path socket, String method, String code, String description) {
    super(
        "CRI "
            + method
            + " on "
            + socket
            + ": "
            + code
            + (description == null || description.isBlank() ? "" : " (" + description + ")"));
    this.kind = Kind.CALL_FAILED;
    this.code = code;
  }

  CriException(String message) {
    super(message);
    this.kind = Kind.MALFORMED;
    this.code = "";
  }

  public Kind kind() {
    return kind;
  }

  /** The gRPC status code's name for a failed call, e.g. UNAVAILABLE, DEADLINE_EXCEEDED. */
  public String code() {
    return code;
  }
}
