package dev.kataoperator.shim.containerd.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A FIFO opened for reading on first use.
 *
 * <p>containerd's CloseIO means "the client closed its end": everything it wrote before is in the
 * FIFO and must still reach the process, then EOF. So CloseIO never discards the stream; it only
 * makes sure the reader cannot wait forever for a writer that is gone: a pending open is unblocked,
 * and an open that has not begun yet takes a path that cannot block. Only {@link #close()} (the
 * process is deleted) drops what is left.
 */
final class FifoInput extends InputStream {
  private final Path path;
  private final Object lock = new Object();
  private InputStream in;
  private volatile boolean opening;
  private volatile boolean clientClosed;
  private volatile boolean closed;

  FifoInput(Path path) {
    this.path = path;
  }

  private InputStream stream() throws IOException {
    synchronized (lock) {
      if (in == null && !closed) {
        opening = true;
        try {
          in = openForReading();
        } finally {
          opening = false;
        }
        if (closed) {
          in.close();
        }
      }
      return closed ? null : in;
    }
  }

  private InputStream openForReading() throws IOException {
    if (!clientClosed) {
      // Blocks until the client's writer is there; CloseIO unblocks it (clientClosed).
      return Channels.newInputStream(FileChannel.open(path, StandardOpenOption.READ));
    }
    // The client has closed already: hold a transient write end so the read-only open returns
    // at once, then drop it; reads get what is buffered, then EOF.
    try (FileChannel transientWriter =
        FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      return Channels.newInputStream(FileChannel.open(path, StandardOpenOption.READ));
    }
  }

  @Override
  public int read() throws IOException {
    byte[] b = new byte[1];
    int n = read(b, 0, 1);
    return n < 0 ? -1 : b[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    InputStream s = stream();
    if (s == null) {
      return -1;
    }
    try {
      return s.read(b, off, len);
    } catch (IOException e) {
      if (closed) {
        return -1;
      }
      throw e;
    }
  }

  /**
   * containerd's CloseIO. A reader blocked in open is released by a transient writer; since the
   * reader may be just about to enter open(2), keep releasing until its open has returned (bounded;
   * on a helper thread so the ttrpc handler does not wait).
   */
  void clientClosed() {
    clientClosed = true;
    if (!opening) {
      return;
    }
    Thread.ofPlatform()
        .daemon()
        .name("stdin-release")
        .start(
            () -> {
              for (int i = 0; i < 500 && opening && !closed; i++) {
                ProcessIo.unblockOpen(path);
                try {
                  Thread.sleep(10);
                } catch (InterruptedException e) {
                  return;
                }
              }
            });
  }

  @Override
  public void close() throws IOException {
    closed = true;
    if (opening) {
      ProcessIo.unblockOpen(path);
    }
    InputStream s = in;
    if (s != null) {
      s.close();
    }
  }
}
