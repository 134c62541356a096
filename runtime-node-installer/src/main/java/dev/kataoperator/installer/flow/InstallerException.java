package dev.kataoperator.installer.flow;

/**
 * Why a step of the node flow stopped. The message is the one line that goes into the node's {@code
 * kataoperator.dev/message} annotation and the log: the cause and what to do.
 */
public final class InstallerException extends Exception {

  /** Which step failed, and what the node was left with (docs/installer.md has the table). */
  public enum Kind {
    /** The node cannot run Kata (the host check's verdict). */
    UNSUPPORTED,
    /** The payload could not be put in place; current still names the old version. */
    PAYLOAD,
    /** containerd's config was refused before any byte was written. */
    CONFIG,
    /** The restart method failed. */
    RESTART,
    /** containerd did not come back serving what was asked for. */
    VERIFY,
    /** The Kubernetes API refused or did not answer. */
    KUBERNETES,
    /** The pod was asked to stop between two steps. */
    STOPPED
  }

  private final Kind kind;

  public InstallerException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public InstallerException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
