package dev.kataoperator.shim.ttrpc;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class FrameChannelTest {

  /** A readable channel over fixed bytes that hands them out in chunks of at most {@code max}. */
  static final class ChunkedChannel implements ReadableByteChannel {
    private final ByteBuffer data;
    private final Random random;
    private final int max;
    private boolean open = true;

    ChunkedChannel(byte[] data, int max, long seed) {
      this.data = ByteBuffer.wrap(data);
      this.max = max;
      this.random = new Random(seed);
    }

    @Override
    public int read(ByteBuffer dst) {
      if (!data.hasRemaining()) {
        return -1;
      }
      int n = Math.min(Math.min(dst.remaining(), data.remaining()), 1 + random.nextInt(max));
      ByteBuffer slice = data.slice(data.position(), n);
      dst.put(slice);
      data.position(data.position() + n);
      return n;
    }

    @Override
    public boolean isOpen() {
      return open;
    }

    @Override
    public void close() {
      open = false;
    }
  }

  static final class Sink implements WritableByteChannel {
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    @Override
    public synchronized int write(ByteBuffer src) {
      // Write in small pieces to give interleaving a chance if locking were broken.
      int n = Math.min(src.remaining(), 7);
      byte[] b = new byte[n];
      src.get(b);
      bytes.write(b, 0, n);
      return n;
    }

    @Override
    public boolean isOpen() {
      return true;
    }

    @Override
    public void close() {}
  }

  private static byte[] concat(ByteBuffer... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (ByteBuffer p : parts) {
      byte[] b = new byte[p.remaining()];
      p.get(b);
      out.writeBytes(b);
    }
    return out.toByteArray();
  }

  @Test
  void headerLayoutIsBigEndianTenBytes() {
    ByteBuffer f =
        FrameChannel.encode(
            0x01020304, FrameChannel.TYPE_DATA, FrameChannel.FLAG_NO_DATA, new byte[] {9, 8});
    assertEquals(
        "00000002" + "01020304" + "03" + "04" + "0908", HexFormat.of().formatHex(concat(f)));
  }

  @Test
  void roundTripsThroughOneByteAndRandomChunkReads() throws IOException {
    Random r = new Random(42);
    List<byte[]> payloads = new ArrayList<>();
    List<ByteBuffer> frames = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      byte[] p = new byte[i == 0 ? 0 : r.nextInt(i == 1 ? FrameChannel.MAX_PAYLOAD : 5000)];
      r.nextBytes(p);
      payloads.add(p);
      frames.add(FrameChannel.encode(2 * i + 1, FrameChannel.TYPE_REQUEST, (byte) i, p));
    }
    byte[] wire = concat(frames.toArray(ByteBuffer[]::new));
    for (int max : new int[] {1, 3, 11, 4096, Integer.MAX_VALUE}) {
      FrameChannel ch = new FrameChannel(new ChunkedChannel(wire, max, max), new Sink());
      for (int i = 0; i < payloads.size(); i++) {
        FrameChannel.Frame f = ch.read();
        assertEquals(2 * i + 1, f.streamId());
        assertEquals(FrameChannel.TYPE_REQUEST, f.type());
        assertEquals((byte) i, f.flags());
        assertFalse(f.oversized());
        assertArrayEquals(payloads.get(i), f.payload(), "payload " + i + " with chunks " + max);
      }
      assertNull(ch.read(), "clean end of stream between frames");
    }
  }

  @Test
  void truncatedHeaderOrPayloadIsAnError() {
    byte[] frame =
        concat(FrameChannel.encode(1, FrameChannel.TYPE_RESPONSE, (byte) 0, new byte[100]));
    for (int cut : new int[] {1, 5, 9, 10, 50, 109}) {
      byte[] partial = java.util.Arrays.copyOf(frame, cut);
      FrameChannel ch = new FrameChannel(new ChunkedChannel(partial, 4, cut), new Sink());
      assertThrows(EOFException.class, ch::read, "cut at " + cut);
    }
  }

  @Test
  void oversizedIncomingFrameIsSkippedAndTheStreamStaysInSync() throws IOException {
    long announced = FrameChannel.MAX_PAYLOAD + 1L;
    byte[] wire =
        concat(
            FrameChannel.encodeHeader(announced, 7, FrameChannel.TYPE_REQUEST, (byte) 0),
            ByteBuffer.allocate((int) announced),
            FrameChannel.encode(9, FrameChannel.TYPE_REQUEST, (byte) 0, new byte[] {1, 2, 3}));
    FrameChannel ch = new FrameChannel(new ChunkedChannel(wire, 100_000, 1), new Sink());
    FrameChannel.Frame big = ch.read();
    assertTrue(big.oversized());
    assertEquals(announced, big.oversizedLength());
    assertEquals(7, big.streamId());
    assertEquals(0, big.payload().length);
    FrameChannel.Frame next = ch.read();
    assertEquals(9, next.streamId());
    assertArrayEquals(new byte[] {1, 2, 3}, next.payload());
  }

  @Test
  void lengthAboveTwoGigabytesIsReadAsUnsigned() throws IOException {
    ByteBuffer h = FrameChannel.encodeHeader(0xFFFF_FFF0L, 1, FrameChannel.TYPE_REQUEST, (byte) 0);
    FrameChannel ch = new FrameChannel(new ChunkedChannel(concat(h), 10, 1), new Sink());
    // The announced payload never comes: skipping runs into the end of the stream.
    assertThrows(EOFException.class, ch::read);
  }

  @Test
  void oversizedOutgoingPayloadFailsBeforeWritingAnything() throws IOException {
    Sink sink = new Sink();
    FrameChannel ch = new FrameChannel(new ChunkedChannel(new byte[0], 1, 1), sink);
    MessageTooLargeException e =
        assertThrows(
            MessageTooLargeException.class,
            () ->
                ch.write(
                    1,
                    FrameChannel.TYPE_REQUEST,
                    (byte) 0,
                    new byte[FrameChannel.MAX_PAYLOAD + 1]));
    assertEquals(Code.RESOURCE_EXHAUSTED, e.code());
    assertEquals(FrameChannel.MAX_PAYLOAD + 1, e.length());
    assertEquals(0, sink.bytes.size());
    ch.write(1, FrameChannel.TYPE_REQUEST, (byte) 0, new byte[FrameChannel.MAX_PAYLOAD]);
    assertEquals(FrameChannel.HEADER_LENGTH + FrameChannel.MAX_PAYLOAD, sink.bytes.size());
  }

  @Test
  void concurrentWritersNeverInterleaveFrames() throws Exception {
    Sink sink = new Sink();
    FrameChannel out = new FrameChannel(new ChunkedChannel(new byte[0], 1, 1), sink);
    int threads = 16;
    int perThread = 50;
    CountDownLatch go = new CountDownLatch(1);
    List<Thread> ts = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int tid = t;
      ts.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      go.await();
                      for (int i = 0; i < perThread; i++) {
                        byte[] p = new byte[100 + tid];
                        java.util.Arrays.fill(p, (byte) tid);
                        out.write(2 * tid + 1, FrameChannel.TYPE_DATA, (byte) 0, p);
                      }
                    } catch (Exception e) {
                      throw new RuntimeException(e);
                    }
                  }));
    }
    go.countDown();
    for (Thread t : ts) {
      t.join();
    }
    FrameChannel in =
        new FrameChannel(new ChunkedChannel(sink.bytes.toByteArray(), 64, 3), new Sink());
    int count = 0;
    FrameChannel.Frame f;
    while ((f = in.read()) != null) {
      int tid = (f.streamId() - 1) / 2;
      assertEquals(100 + tid, f.payload().length);
      for (byte b : f.payload()) {
        assertEquals((byte) tid, b);
      }
      count++;
    }
    assertEquals(threads * perThread, count);
  }
}
