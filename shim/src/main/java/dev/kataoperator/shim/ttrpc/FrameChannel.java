package dev.kataoperator.shim.ttrpc;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.locks.ReentrantLock;

/**
 * ttrpc framing over a byte channel: the one place that knows the wire layout.
 *
 * <p>Every message is a 10-byte header followed by its payload:
 *
 * <pre>
 *   0..3  payload length, u32 big-endian (at most {@link #MAX_PAYLOAD})
 *   4..7  stream id, u32 big-endian (odd: client-initiated)
 *   8     type: 1 request, 2 response, 3 data
 *   9     flags: 0x1 remote-closed, 0x2 remote-open, 0x4 no-data
 * </pre>
 *
 * <p>One thread reads ({@link #read()}); any number of threads write ({@link #write}), each frame
 * written whole under a lock. A frame announcing more than {@link #MAX_PAYLOAD} bytes is not an
 * error of the connection: its payload is skipped and the frame is returned with {@link
 * Frame#oversizedLength()} set, so the caller can answer RESOURCE_EXHAUSTED on that stream (what Go
 * ttrpc does). Writing such a payload fails with {@link MessageTooLargeException} before any byte
 * is written.
 */
public final class FrameChannel implements Closeable {
  public static final int HEADER_LENGTH = 10;
  public static final int MAX_PAYLOAD = 4 << 20;

  public static final byte TYPE_REQUEST = 0x1;
  public static final byte TYPE_RESPONSE = 0x2;
  public static final byte TYPE_DATA = 0x3;

  public static final byte FLAG_REMOTE_CLOSED = 0x1;
  public static final byte FLAG_REMOTE_OPEN = 0x2;
  public static final byte FLAG_NO_DATA = 0x4;

  private static final byte[] EMPTY = new byte[0];

  /**
   * One received frame. {@code oversizedLength} is 0 for a normal frame; for a frame whose declared
   * length exceeded the maximum it is that length, and {@code payload} is empty (it was skipped).
   */
  public record Frame(int streamId, byte type, byte flags, byte[] payload, long oversizedLength) {
    public boolean oversized() {
      return oversizedLength > 0;
    }

    public boolean hasFlag(byte flag) {
      return (flags & flag) == flag;
    }
  }

  private final ReadableByteChannel in;
  private final WritableByteChannel out;
  private final ByteBuffer header = ByteBuffer.allocate(HEADER_LENGTH).order(ByteOrder.BIG_ENDIAN);
  private final ReentrantLock writeLock = new ReentrantLock();
  private ByteBuffer scratch;

  public FrameChannel(ByteChannel channel) {
    this(channel, channel);
  }

  public FrameChannel(ReadableByteChannel in, WritableByteChannel out) {
    this.in = in;
    this.out = out;
  }

  /**
   * Reads the next frame, blocking. Returns null when the peer closed the stream cleanly between
   * frames; throws {@link EOFException} when it closed in the middle of one. Not thread-safe: one
   * reader per channel.
   */
  public Frame read() throws IOException {
    header.clear();
    if (!readFully(header, true)) {
      return null;
    }
    header.flip();
    long length = Integer.toUnsignedLong(header.getInt());
    int streamId = header.getInt();
    byte type = header.get();
    byte flags = header.get();
    if (length > MAX_PAYLOAD) {
      skip(length);
      return new Frame(streamId, type, flags, EMPTY, length);
    }
    byte[] payload = length == 0 ? EMPTY : new byte[(int) length];
    if (length > 0) {
      readFully(ByteBuffer.wrap(payload), false);
    }
    return new Frame(streamId, type, flags, payload, 0);
  }

  /**
   * Writes one frame. Safe to call from many threads: frames never interleave.
   *
   * @throws MessageTooLargeException if the payload exceeds {@link #MAX_PAYLOAD}; nothing is
   *     written and the channel stays usable
   */
  public void write(int streamId, byte type, byte flags, byte[] payload) throws IOException {
    ByteBuffer frame = encode(streamId, type, flags, payload);
    writeLock.lock();
    try {
      while (frame.hasRemaining()) {
        out.write(frame);
      }
    } finally {
      writeLock.unlock();
    }
  }

  /**
   * Encodes a frame, header and payload, into one buffer ready to be written.
   *
   * @throws MessageTooLargeException if the payload exceeds {@link #MAX_PAYLOAD}
   */
  public static ByteBuffer encode(int streamId, byte type, byte flags, byte[] payload) {
    byte[] p = payload == null ? EMPTY : payload;
    if (p.length > MAX_PAYLOAD) {
      throw new MessageTooLargeException(p.length);
    }
    ByteBuffer frame = ByteBuffer.allocate(HEADER_LENGTH + p.length).order(ByteOrder.BIG_ENDIAN);
    frame.putInt(p.length).putInt(streamId).put(type).put(flags).put(p).flip();
    return frame;
  }

  /** Encodes only a header, e.g. to announce a length that is then not (all) sent. */
  public static ByteBuffer encodeHeader(long length, int streamId, byte type, byte flags) {
    ByteBuffer h = ByteBuffer.allocate(HEADER_LENGTH).order(ByteOrder.BIG_ENDIAN);
    h.putInt((int) length).putInt(streamId).put(type).put(flags).flip();
    return h;
  }

  @Override
  public void close() throws IOException {
    try {
      in.close();
    } finally {
      if (out != in) {
        out.close();
      }
    }
  }

  /** Fills {@code buf}; false if the stream ended before the first byte and that is allowed. */
  private boolean readFully(ByteBuffer buf, boolean eofAllowedAtStart) throws IOException {
    while (buf.hasRemaining()) {
      int n = in.read(buf);
      if (n < 0) {
        if (eofAllowedAtStart && buf.position() == 0) {
          return false;
        }
        throw new EOFException(
            "ttrpc: connection closed in the middle of a frame ("
                + buf.position()
                + " of "
                + buf.limit()
                + " bytes)");
      }
    }
    return true;
  }

  private void skip(long length) throws IOException {
    if (scratch == null) {
      scratch = ByteBuffer.allocate(64 * 1024);
    }
    long left = length;
    while (left > 0) {
      scratch.clear();
      scratch.limit((int) Math.min(scratch.capacity(), left));
      int n = in.read(scratch);
      if (n < 0) {
        throw new EOFException("ttrpc: connection closed while skipping an oversized frame");
      }
      left -= n;
    }
  }
}
