package dev.kataoperator.shim.containerd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Any;
import dev.kataoperator.shim.containerd.io.ProcessIo;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * TEST ONLY, NEVER SHIPPED: runs a container's processes directly on the host, without any
 * isolation (no VM, no namespaces, the rootfs ignored), so that the containerd protocol (start,
 * Create/Start/Wait/Exec/Kill/Delete/Shutdown, stdio FIFOs, events, delete after a dead shim) can
 * be proven against a real containerd without a VM. The shipped backend is the sandbox layer's.
 */
final class HostTestBackend implements TaskBackend {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Started processes, for Shutdown. */
  private final Set<HostProcess> started = ConcurrentHashMap.newKeySet();

  @Override
  public Container create(CreateRequest r) throws IOException {
    JsonNode spec = JSON.readTree(r.bundle().resolve("config.json").toFile());
    return new HostContainer(new HostProcess(spec.path("process"), r.io()));
  }

  private final class HostContainer implements Container {
    private final HostProcess init;

    HostContainer(HostProcess init) {
      this.init = init;
    }

    @Override
    public Process init() {
      return init;
    }

    @Override
    public Process exec(String execId, ProcessIo io, Any processSpec) throws IOException {
      return new HostProcess(JSON.readTree(processSpec.getValue().toStringUtf8()), io);
    }

    @Override
    public Any stats() {
      throw new UnsupportedOperationException("no stats in the host test backend");
    }

    @Override
    public void update(Any resources, Map<String, String> annotations) {}

    @Override
    public void pause() {
      throw new UnsupportedOperationException("pause");
    }

    @Override
    public void resume() {
      throw new UnsupportedOperationException("resume");
    }
  }

  /** A process on the host; until started, pid 1 (containerd only displays it). */
  private final class HostProcess implements Process {
    private final List<String> args = new ArrayList<>();
    private final Map<String, String> env = new ConcurrentHashMap<>();
    private final ProcessIo io;
    private volatile java.lang.Process process;
    private final List<Thread> copiers = new ArrayList<>();

    HostProcess(JsonNode spec, ProcessIo io) {
      this.io = io;
      spec.path("args").forEach(a -> args.add(a.asText()));
      spec.path("env")
          .forEach(
              e -> {
                String s = e.asText();
                int eq = s.indexOf('=');
                if (eq > 0) {
                  env.put(s.substring(0, eq), s.substring(eq + 1));
                }
              });
    }

    @Override
    public int pid() {
      java.lang.Process p = process;
      return p == null ? 1 : (int) p.pid();
    }

    @Override
    public int start() throws IOException {
      ProcessBuilder pb = new ProcessBuilder(args);
      pb.environment().putAll(env);
      java.lang.Process p = pb.start();
      copiers.add(copy(p.getInputStream(), io.stdout().orElse(null)));
      copiers.add(copy(p.getErrorStream(), io.stderr().orElse(null)));
      if (io.stdin().isPresent()) {
        Thread.ofPlatform().daemon().start(() -> pump(io.stdin().get(), p.getOutputStream()));
      } else {
        p.getOutputStream().close();
      }
      process = p;
      started.add(this);
      return (int) p.pid();
    }

    @Override
    public Exit await() throws InterruptedException {
      int status = process.waitFor();
      for (Thread t : copiers) {
        t.join();
      }
      return new Exit(pid(), status, Instant.now());
    }

    @Override
    public void kill(int signal, boolean all) throws Exception {
      java.lang.Process p = process;
      if (p != null) {
        new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).start().waitFor();
      }
    }

    @Override
    public Exit delete() {
      java.lang.Process p = process;
      return p == null
          ? new Exit(0, 0, Instant.now())
          : new Exit((int) p.pid(), p.exitValue(), Instant.now());
    }

    @Override
    public void resizePty(int width, int height) {}

    @Override
    public void closeStdin() {}

    void destroy() {
      java.lang.Process p = process;
      if (p != null) {
        p.destroyForcibly();
      }
    }
  }

  private static Thread copy(InputStream from, OutputStream to) {
    // Platform threads: blocking pipe and FIFO I/O would pin virtual threads' carriers.
    return Thread.ofPlatform().daemon().start(() -> pump(from, to));
  }

  private static void pump(InputStream from, OutputStream to) {
    try (from) {
      byte[] buf = new byte[8192];
      int n;
      while ((n = from.read(buf)) >= 0) {
        if (to != null) {
          to.write(buf, 0, n);
          to.flush();
        }
      }
    } catch (IOException e) {
      // the other side went away
    } finally {
      if (to != null) {
        try {
          to.close();
        } catch (IOException e) {
          // ignore
        }
      }
    }
  }

  @Override
  public void shutdown() {
    started.forEach(HostProcess::destroy);
  }
}
