package dev.kataoperator.installer.payload;

/**
 * Why the payload was not installed (or not removed). Thrown before {@code current} moves: the node
 * keeps the version it had.
 */
public final class PayloadException extends Exception {

  /** The causes callers tell apart; the message says the details and what to do. */
  public enum Kind {
    /** The image's payload is not what the installer expects (no current, no or bad manifest). */
    BAD_IMAGE,
    /** A file read from the image does not have the digest its manifest lists. */
    DIGEST_MISMATCH,
    /** The runtime class config template is missing or cannot be edited. */
    BAD_TEMPLATE,
    /** Something on the host is in the way (a file where a directory or link belongs). */
    CONFLICT,
    /** Reading or writing failed. */
    IO
  }

  private final Kind kind;

  public PayloadException(Kind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public PayloadException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
