package dev.kataoperator.shim.containerd.io;

import dev.kataoperator.shim.host.Native;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;

/**
 * A FIFO opened for writing on first use (blocks until containerd's reader is there). Once open,
 * the shim also holds a read end, as containerd's runc shim does: while containerd restarts and its
 * reader is gone, writes land in the pipe instead of failing, and the restarted containerd reads
 * them (a full pipe makes the writer wait, so the guest's output is held back, not lost).
 */
final class FifoOutput extends OutputStream {
  private static final System.Logger LOG = System.getLogger(FifoOutput.class.getName());

  private final Path path;
  private final Object lock = new Object();
  private OutputStream out;
  private FileChannel heldReadEnd;
  private volatile boolean opening;
  private volatile boolean closed;

  FifoOutput(Path path) {
    this.path = path;
  }

  private OutputStream stream() throws IOException {
    synchronized (lock) {
      if (closed) {
        throw new IOException("stream closed: " + path);
      }
      if (out == null) {
        opening = true;
        try {
          out = Channels.newOutputStream(FileChannel.open(path, StandardOpenOption.WRITE));
          // Does not block: a writer (this) is there. Never read; it only keeps the pipe open.
          heldReadEnd = FileChannel.open(path, StandardOpenOption.READ);
        } finally {
          opening = false;
        }
        if (closed) {
          closeQuietly();
          throw new IOException("stream closed: " + path);
        }
      }
      return out;
    }
  }

  @Override
  public void write(int b) throws IOException {
    write(new byte[] {(byte) b}, 0, 1);
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    stream().write(b, off, len);
  }

  @Override
  public void close() throws IOException {
    closed = true;
    if (opening) {
      ProcessIo.unblockOpen(path);
    }
    OutputStream s = out;
    if (s != null) {
      awaitDrained(path);
      closeQuietly();
    } else if (!opening) {
      // Never written: the reader (containerd's CRI exec waits for it) still waits for a
      // writer to come and go. Opening read-write never blocks; closing it is that EOF.
      try (var eof = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
        LOG.log(Level.TRACE, "EOF to the reader of {0}", path);
      } catch (IOException e) {
        // no such FIFO any more: nobody waits
      }
    }
  }

  private void closeQuietly() {
    synchronized (lock) {
      for (var c : new java.io.Closeable[] {out, heldReadEnd}) {
        try {
          if (c != null) {
            c.close();
          }
        } catch (IOException e) {
          LOG.log(Level.DEBUG, "closing " + path, e);
        }
      }
    }
  }

  /** How long a closing output FIFO waits for its reader to take what is still buffered. */
  static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(2);

  /**
   * Waits, bounded, until the reader of {@code fifo} has read everything written to it. The
   * process's exit is reported after its output streams are closed, and some clients stop reading
   * as soon as they see the exit: containerd 1.6's client closes its FIFOs in Task.Delete before
   * waiting for its copies, so ctr run lost a short-lived process's last output now and then.
   * Closing only once the pipe is empty makes "the output, then the exit" hold for them too.
   */
  static void awaitDrained(Path fifo) {
    long deadline = System.nanoTime() + DRAIN_TIMEOUT.toNanos();
    while (Native.unreadBytes(fifo) > 0 && System.nanoTime() < deadline) {
      try {
        Thread.sleep(2);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
