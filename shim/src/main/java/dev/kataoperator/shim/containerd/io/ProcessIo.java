package dev.kataoperator.shim.containerd.io;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;

/**
 * A container process's standard streams as containerd handed them to the shim, for the sandbox
 * layer to copy to and from the guest process.
 *
 * <p>containerd passes, per stream, a FIFO path (what ctr and CRI use), a {@code file://} URI
 * (stdout and stderr appended to one file), or a {@code binary://} URI (a logging binary that gets
 * stdout and stderr as fds 3 and 4 and closes fd 5 once ready, as containerd's runc shim does).
 *
 * <p>FIFOs are opened lazily, on the first read or write, by the thread doing the copying: opening
 * a FIFO blocks until the other side opens it (containerd may open stdin's writer late, or never).
 * {@link #close()} and {@link #closeStdin()} unblock such a pending open.
 *
 * <p>Threads: copy these streams on <b>platform</b> threads. Opening, reading and writing a FIFO
 * are blocking file operations, which pin a virtual thread's carrier; a few of them on virtual
 * threads starve every other virtual thread of the process (the ttrpc server's included) on a small
 * machine. The ttrpc layer itself only uses socket I/O, which virtual threads handle well.
 *
 * <p>Ownership: the sandbox layer copies guest stdout/stderr into {@link #stdout()}/{@link
 * #stderr()} and closes each when the guest stream ends (that EOF is how containerd's readers know
 * the output is complete); it copies {@link #stdin()} to the guest until it returns -1, then closes
 * the guest's stdin. The task service closes the whole ProcessIo when the process is deleted.
 */
public final class ProcessIo implements Closeable {
  private static final System.Logger LOG = System.getLogger(ProcessIo.class.getName());

  /** The stdio fields of a Create or Exec request; empty strings mean "none". */
  public record Stdio(String stdin, String stdout, String stderr, boolean terminal) {
    public Stdio {
      stdin = stdin == null ? "" : stdin;
      stdout = stdout == null ? "" : stdout;
      stderr = stderr == null ? "" : stderr;
    }

    public boolean isNull() {
      return stdin.isEmpty() && stdout.isEmpty() && stderr.isEmpty();
    }
  }

  private final Stdio stdio;
  private final FifoInput stdin;
  private final OutputStream stdout;
  private final OutputStream stderr;
  private final List<Closeable> closers;

  ProcessIo(
      Stdio stdio,
      FifoInput stdin,
      OutputStream stdout,
      OutputStream stderr,
      List<Closeable> closers) {
    this.stdio = stdio;
    this.stdin = stdin;
    this.stdout = stdout;
    this.stderr = stderr;
    this.closers = closers;
  }

  /** A process with no streams at all. */
  public static ProcessIo none() {
    return new ProcessIo(new Stdio("", "", "", false), null, null, null, List.of());
  }

  /**
   * Prepares the streams named in {@code stdio}. Nothing blocks here: FIFOs open on first use. A
   * binary logger is started here (and waited for until it reports ready, at most 10 s).
   */
  public static ProcessIo open(String containerId, String namespace, Stdio stdio)
      throws IOException {
    FifoInput in = stdio.stdin().isEmpty() ? null : new FifoInput(Path.of(stdio.stdin()));
    String out = stdio.stdout();
    URI uri = parseUri(out);
    String scheme = uri == null ? "fifo" : uri.getScheme();
    switch (scheme) {
      case "fifo" -> {
        OutputStream o =
            out.isEmpty() ? null : new FifoOutput(Path.of(uri == null ? out : uri.getPath()));
        OutputStream e =
            stdio.stderr().isEmpty() || stdio.terminal()
                ? null
                : new FifoOutput(pathOf(stdio.stderr()));
        return new ProcessIo(stdio, in, o, e, List.of());
      }
      case "file" -> {
        Path file = Path.of(uri.getPath());
        Files.createDirectories(file.toAbsolutePath().getParent());
        OutputStream shared =
            Files.newOutputStream(
                file,
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE,
                StandardOpenOption.APPEND);
        OutputStream synced = new SharedOutput(shared);
        return new ProcessIo(stdio, in, synced, stdio.terminal() ? null : synced, List.of(shared));
      }
      case "binary" -> {
        return BinaryLogger.start(containerId, namespace, uri, stdio, in);
      }
      default -> throw new IllegalArgumentException("unsupported stdio scheme: " + out);
    }
  }

  public Stdio stdio() {
    return stdio;
  }

  public boolean terminal() {
    return stdio.terminal();
  }

  /** The process's stdin, or empty when it has none. Reads return -1 once containerd closed it. */
  public Optional<InputStream> stdin() {
    return Optional.ofNullable(stdin);
  }

  /** Where the process's stdout goes (with a terminal: all its output). */
  public Optional<OutputStream> stdout() {
    return Optional.ofNullable(stdout);
  }

  /** Where the process's stderr goes; empty with a terminal or when containerd gave none. */
  public Optional<OutputStream> stderr() {
    return Optional.ofNullable(stderr);
  }

  /**
   * containerd's CloseIO: the client closed stdin. What it wrote is still delivered, then EOF; a
   * reader waiting for a writer that will never come is released.
   */
  public void closeStdin() {
    if (stdin != null) {
      stdin.clientClosed();
    }
  }

  @Override
  public void close() {
    closeQuietly(stdin);
    closeQuietly(stdout);
    if (stderr != stdout) {
      closeQuietly(stderr);
    }
    for (Closeable c : closers) {
      closeQuietly(c);
    }
  }

  private static void closeQuietly(Closeable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "closing stdio", e);
    }
  }

  private static URI parseUri(String s) {
    if (!s.contains("://")) {
      return null;
    }
    try {
      return new URI(s);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("invalid stdio URI " + s + ": " + e.getMessage(), e);
    }
  }

  private static Path pathOf(String s) {
    URI u = parseUri(s);
    return Path.of(u == null ? s : u.getPath());
  }

  /**
   * Unblocks whoever is blocked opening {@code fifo} (for reading or writing): an O_RDWR open of a
   * FIFO never blocks on Linux and completes any pending open on the other end.
   */
  static void unblockOpen(Path fifo) {
    try (FileChannel ignored =
        FileChannel.open(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      // opened and closed
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "unblocking " + fifo, e);
    }
  }
}
