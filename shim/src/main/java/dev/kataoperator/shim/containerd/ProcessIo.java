package dev.kataoperator.shim.containerd;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

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

  private ProcessIo(
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

  /**
   * A FIFO opened for reading on first use.
   *
   * <p>containerd's CloseIO means "the client closed its end": everything it wrote before is in the
   * FIFO and must still reach the process, then EOF. So CloseIO never discards the stream; it only
   * makes sure the reader cannot wait forever for a writer that is gone: a pending open is
   * unblocked, and an open that has not begun yet takes a path that cannot block. Only {@link
   * #close()} (the process is deleted) drops what is left.
   */
  static final class FifoInput extends InputStream {
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
     * reader may be just about to enter open(2), keep releasing until its open has returned
     * (bounded; on a helper thread so the ttrpc handler does not wait).
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
                  unblockOpen(path);
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
        unblockOpen(path);
      }
      InputStream s = in;
      if (s != null) {
        s.close();
      }
    }
  }

  /** A FIFO opened for writing on first use (blocks until containerd's reader is there). */
  static final class FifoOutput extends OutputStream {
    private final Path path;
    private final Object lock = new Object();
    private OutputStream out;
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
          } finally {
            opening = false;
          }
          if (closed) {
            out.close();
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
        unblockOpen(path);
      }
      OutputStream s = out;
      if (s != null) {
        awaitDrained(path);
        s.close();
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

  /** stdout and stderr sharing one file: whole writes do not interleave, closing is shared. */
  static final class SharedOutput extends OutputStream {
    private final OutputStream out;

    SharedOutput(OutputStream out) {
      this.out = out;
    }

    @Override
    public synchronized void write(int b) throws IOException {
      out.write(b);
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
    }

    @Override
    public void close() {
      // closed by the ProcessIo, once for both streams
    }
  }

  /**
   * A {@code binary://} logger: started with stdout and stderr as fds 3 and 4 and a readiness pipe
   * as fd 5, with only CONTAINER_ID and CONTAINER_NAMESPACE in its environment and the URI's query
   * as arguments (key, first value, ...), as containerd's runc shim runs it. The JDK cannot hand a
   * child extra fds, so a {@code /bin/sh} stub opens three FIFOs onto them and execs the logger.
   */
  static final class BinaryLogger {
    private static final String STUB =
        "o=$1; e=$2; r=$3; shift 3; exec \"$@\" 3<\"$o\" 4<\"$e\" 5>\"$r\"";

    static ProcessIo start(
        String containerId, String namespace, URI uri, Stdio stdio, FifoInput stdin)
        throws IOException {
      Path dir = Files.createTempDirectory("kata-shim-log-");
      Path out = dir.resolve("out");
      Path err = dir.resolve("err");
      Path ready = dir.resolve("ready");
      Native.mkfifo(out, 0600);
      Native.mkfifo(err, 0600);
      Native.mkfifo(ready, 0600);
      List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c", STUB, "sh"));
      cmd.addAll(List.of(out.toString(), err.toString(), ready.toString(), uri.getPath()));
      cmd.addAll(queryArgs(uri));
      ProcessBuilder pb =
          new ProcessBuilder(cmd)
              .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .redirectError(ProcessBuilder.Redirect.DISCARD);
      Map<String, String> env = pb.environment();
      env.clear();
      env.put("CONTAINER_ID", containerId);
      env.put("CONTAINER_NAMESPACE", namespace);
      Process p = pb.start();
      // The stub opens fd 3, 4, then 5, each blocking until we open the other end, in that order.
      OutputStream[] streams = new OutputStream[2];
      Thread opener =
          Thread.ofPlatform()
              .daemon()
              .name("binary-logger-open")
              .start(
                  () -> {
                    try {
                      streams[0] = Files.newOutputStream(out, StandardOpenOption.WRITE);
                      streams[1] = Files.newOutputStream(err, StandardOpenOption.WRITE);
                      try (InputStream r = Files.newInputStream(ready)) {
                        r.read(); // EOF (or a byte) once the logger is ready
                      }
                    } catch (IOException e) {
                      LOG.log(Level.WARNING, "binary logger " + uri + " did not start", e);
                    }
                  });
      boolean ok;
      try {
        ok = opener.join(java.time.Duration.ofSeconds(10));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        ok = false;
      }
      if (!ok || streams[1] == null) {
        p.destroyForcibly();
        for (Path f : List.of(out, err, ready)) {
          unblockOpen(f);
        }
        cleanup(dir, out, err, ready);
        throw new IOException("logging binary " + uri.getPath() + " did not become ready");
      }
      cleanup(dir, out, err, ready);
      Closeable reaper =
          () -> {
            try {
              if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroy();
              }
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          };
      return new ProcessIo(
          stdio,
          stdin,
          streams[0],
          stdio.terminal() ? null : streams[1],
          List.of(streams[1], reaper));
    }

    private static List<String> queryArgs(URI uri) {
      List<String> args = new ArrayList<>();
      String q = uri.getRawQuery();
      if (q == null || q.isEmpty()) {
        return args;
      }
      java.util.LinkedHashMap<String, String> first = new java.util.LinkedHashMap<>();
      for (String kv : q.split("&")) {
        int eq = kv.indexOf('=');
        String k = decode(eq < 0 ? kv : kv.substring(0, eq));
        String v = eq < 0 ? null : decode(kv.substring(eq + 1));
        first.putIfAbsent(k, v);
      }
      first.forEach(
          (k, v) -> {
            args.add(k);
            if (v != null) {
              args.add(v);
            }
          });
      return args;
    }

    private static String decode(String s) {
      return java.net.URLDecoder.decode(s, StandardCharsets.UTF_8);
    }

    private static void cleanup(Path dir, Path... files) {
      try {
        for (Path f : files) {
          Files.deleteIfExists(f);
        }
        Files.deleteIfExists(dir);
      } catch (IOException e) {
        LOG.log(Level.DEBUG, "removing " + dir, e);
      }
    }
  }
}
