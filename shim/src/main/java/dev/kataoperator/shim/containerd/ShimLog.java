package dev.kataoperator.shim.containerd;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * The shim server's log. The shim logs through {@link System.Logger} everywhere; this configures
 * its backend (java.util.logging, the JDK's default) to write logrus-style lines to the {@code log}
 * FIFO containerd creates in the bundle (containerd copies it into its own log, as for its Go
 * shims). The FIFO is opened on a background thread (it blocks until containerd reads it), and
 * again after containerd restarted; records logged while nobody reads, or when there is no FIFO, go
 * nowhere.
 */
public final class ShimLog {
  private ShimLog() {}

  public static void install(Path fifo, boolean debug) {
    LogManager.getLogManager().reset();
    Logger root = Logger.getLogger("");
    root.setLevel(debug ? Level.FINE : Level.INFO);
    root.addHandler(fifoHandler(fifo, debug ? Level.FINE : Level.INFO));
  }

  /** A handler writing to {@code fifo}, opened in the background and again whenever it broke. */
  static FifoHandler fifoHandler(Path fifo, Level level) {
    FifoHandler handler = new FifoHandler(fifo);
    handler.setLevel(level);
    handler.open();
    return handler;
  }

  /** containerd parses its shims' lines as logrus entries: its level names, not JUL's. */
  static String logrusLevel(Level level) {
    int v = level.intValue();
    if (v >= Level.SEVERE.intValue()) {
      return "error";
    }
    if (v >= Level.WARNING.intValue()) {
      return "warning";
    }
    if (v >= Level.INFO.intValue()) {
      return "info";
    }
    return v >= Level.FINE.intValue() ? "debug" : "trace";
  }

  static final class FifoHandler extends Handler {
    private final Path fifo;
    private final java.util.concurrent.atomic.AtomicBoolean opening =
        new java.util.concurrent.atomic.AtomicBoolean();
    private volatile OutputStream out;

    FifoHandler(Path fifo) {
      this.fifo = fifo;
      setFormatter(
          new Formatter() {
            @Override
            public String format(LogRecord r) {
              StringBuilder sb =
                  new StringBuilder()
                      .append("time=\"")
                      .append(Instant.ofEpochMilli(r.getMillis()))
                      .append("\" level=")
                      .append(logrusLevel(r.getLevel()))
                      .append(" msg=\"")
                      .append(formatMessage(r).replace("\"", "\\\""))
                      .append("\" runtime=io.containerd.kata-qemu.v2");
              if (r.getThrown() != null) {
                sb.append(" error=\"")
                    .append(r.getThrown().toString().replace("\"", "\\\""))
                    .append('"');
              }
              return sb.append('\n').toString();
            }
          });
    }

    /**
     * Opens the FIFO on a background thread: opening blocks until containerd reads it, at start and
     * after containerd restarted (it opens its shims' log FIFOs again when it is back). Records
     * logged meanwhile are dropped: the shim never waits for its log.
     */
    void open() {
      if (!Files.exists(fifo) || !opening.compareAndSet(false, true)) {
        return;
      }
      // A platform thread: opening a FIFO blocks in the kernel, for as long as containerd is away.
      Thread.ofPlatform()
          .daemon()
          .name("shim-log-open")
          .start(
              () -> {
                try {
                  out = Files.newOutputStream(fifo, StandardOpenOption.WRITE);
                } catch (IOException e) {
                  // no log then
                } finally {
                  opening.set(false);
                }
              });
    }

    boolean connected() {
      return out != null;
    }

    @Override
    public synchronized void publish(LogRecord record) {
      OutputStream o = out;
      if (o == null || !isLoggable(record)) {
        return;
      }
      try {
        o.write(getFormatter().format(record).getBytes(StandardCharsets.UTF_8));
        o.flush();
      } catch (IOException e) {
        // containerd's reader is gone (it is restarting): wait for the next one.
        out = null;
        try {
          o.close();
        } catch (IOException ignored) {
          // broken already
        }
        open();
      }
    }

    @Override
    public void flush() {}

    @Override
    public void close() {
      OutputStream o = out;
      if (o != null) {
        try {
          o.close();
        } catch (IOException e) {
          // ignore
        }
      }
    }
  }
}
