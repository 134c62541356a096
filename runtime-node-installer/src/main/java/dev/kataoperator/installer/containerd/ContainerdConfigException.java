package dev.kataoperator.installer.containerd;

/**
 * Why containerd's configuration was left alone. Thrown before any file is written: a caller that
 * catches it knows the node's files are as they were.
 */
public final class ContainerdConfigException extends Exception {

  /** The causes callers tell apart; the message says the details and what to do. */
  public enum Kind {
    /** The main config (or our own drop-in) is not valid TOML. */
    UNPARSEABLE,
    /** The main config's top-level {@code imports} is not an array of strings. */
    BAD_IMPORTS,
    /** A config version or containerd version this installer does not configure. */
    UNSUPPORTED_VERSION,
    /** Something else already defines what we would add, or would undo it. */
    CONFLICT,
    /** Reading or writing a file failed. */
    IO
  }

  private final Kind kind;

  public ContainerdConfigException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public ContainerdConfigException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
