package dev.kataoperator.shim.ttrpc;

/**
 * Refusal to send a message whose payload exceeds {@link FrameChannel#MAX_PAYLOAD}; raised locally,
 * before anything is written, so the connection stays usable.
 */
public final class MessageTooLargeException extends TtrpcException {
  private static final long serialVersionUID = 1L;

  private final long length;

  public MessageTooLargeException(long length) {
    super(
        Code.RESOURCE_EXHAUSTED,
        "message length "
            + length
            + " exceeds maximum message size of "
            + FrameChannel.MAX_PAYLOAD);
    this.length = length;
  }

  /** The rejected payload length. */
  public long length() {
    return length;
  }
}
