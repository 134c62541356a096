package dev.kataoperator.shim.hypervisor.qemu;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The guest's serial console, kept in memory: the last {@link #CAPACITY} bytes, for the error a
 * failed boot reports. The guest owns what it writes there, and a hostile guest kernel can write
 * without end: a console file in the run directory (tmpfs, the node's memory) would grow with it.
 * So the shim listens on a unix socket that QEMU's serial chardev connects to, and keeps a ring.
 * The ring outlives QEMU, so a guest that panicked still has its last words.
 */
final class GuestConsole implements AutoCloseable {
  static final int CAPACITY = 64 << 10;

  private final Path socket;
  private final ServerSocketChannel server;
  private final byte[] ring = new byte[CAPACITY];
  private long written;
  private volatile SocketChannel channel;

  private GuestConsole(Path socket, ServerSocketChannel server) {
    this.socket = socket;
    this.server = server;
  }

  /** Listens on {@code socket} for QEMU; call before QEMU starts (it connects at startup). */
  static GuestConsole listen(Path socket) throws IOException {
    Files.deleteIfExists(socket);
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      server.bind(UnixDomainSocketAddress.of(socket), 1);
    } catch (IOException e) {
      server.close();
      throw e;
    }
    var console = new GuestConsole(socket, server);
    Thread.ofVirtual().name("guest-console").start(console::read);
    return console;
  }

  Path socket() {
    return socket;
  }

  private void read() {
    try (SocketChannel c = server.accept()) {
      channel = c;
      server.close(); // one QEMU, one connection
      ByteBuffer buf = ByteBuffer.allocate(8192);
      while (c.read(buf.clear()) >= 0) {
        append(buf.array(), 0, buf.position());
      }
    } catch (IOException e) {
      // closed: the VM is gone, or the console is being closed
    }
  }

  synchronized void append(byte[] b, int off, int len) {
    // Only the last CAPACITY bytes of a longer write can stay; all of it counts as written.
    int keep = Math.min(len, CAPACITY);
    long at = written + len - keep;
    for (int i = 0; i < keep; i++) {
      ring[(int) ((at + i) % CAPACITY)] = b[off + len - keep + i];
    }
    written += len;
  }

  /** The console's last {@code lines} lines (control characters other than newline dropped). */
  synchronized String tail(int lines) {
    int n = (int) Math.min(written, CAPACITY);
    byte[] last = new byte[n];
    long start = written - n;
    for (int i = 0; i < n; i++) {
      last[i] = ring[(int) ((start + i) % CAPACITY)];
    }
    String text =
        new String(last, StandardCharsets.UTF_8)
            .replace("\r", "")
            .replaceAll("[\\p{Cntrl}&&[^\n]]", "");
    List<String> all = text.lines().toList();
    return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
  }

  /** Bytes the guest wrote in all (the ring keeps the last {@link #CAPACITY}). */
  synchronized long written() {
    return written;
  }

  @Override
  public void close() {
    try {
      server.close();
      SocketChannel c = channel;
      if (c != null) {
        c.close();
      }
      Files.deleteIfExists(socket);
    } catch (IOException e) {
      // nothing to do
    }
  }
}
