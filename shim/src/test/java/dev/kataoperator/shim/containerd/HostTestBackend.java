package dev.kataoperator.shim.containerd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Any;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * TEST ONLY, NEVER SHIPPED: runs a container's processes directly on the host, without any
 * isolation (no VM, no namespaces, the rootfs ignored), so that the containerd protocol (start,
 * Create/Start/Wait/Exec/Kill/Delete/Shutdown, stdio FIFOs, events, delete after a dead shim) can
 * be proven against a real containerd without a VM. The shipped backend is the sandbox layer's.
 */
final class HostTestBackend implements TaskBackend {
  private static final ObjectMapper JSON = new ObjectMapper();

  private record Spec(List<String> args, Map<String, String> env, ProcessIo io) {}

  private static final class Running {
    final Process process;
    final List<Thread> copiers;

    Running(Process process, List<Thread> copiers) {
      this.process = process;
      this.copiers = copiers;
    }
  }

  private final Map<String, Spec> specs = new ConcurrentHashMap<>();
  private final Map<String, Running> running = new ConcurrentHashMap<>();

  private static String key(String id, String execId) {
    return execId.isEmpty() ? id : id + "/" + execId;
  }

  @Override
  public int create(CreateRequest r) throws IOException {
    JsonNode spec = JSON.readTree(r.bundle().resolve("config.json").toFile());
    specs.put(r.containerId(), spec(spec.path("process"), r.io()));
    return 1; // not started yet; containerd only displays it
  }

  private static Spec spec(JsonNode process, ProcessIo io) {
    List<String> args = new ArrayList<>();
    process.path("args").forEach(a -> args.add(a.asText()));
    Map<String, String> env = new ConcurrentHashMap<>();
    process
        .path("env")
        .forEach(
            e -> {
              String s = e.asText();
              int eq = s.indexOf('=');
              if (eq > 0) {
                env.put(s.substring(0, eq), s.substring(eq + 1));
              }
            });
    return new Spec(args, env, io);
  }

  @Override
  public int start(String id, String execId) throws IOException {
    Spec s = specs.get(key(id, execId));
    ProcessBuilder pb = new ProcessBuilder(s.args());
    pb.environment().putAll(s.env());
    Process p = pb.start();
    List<Thread> copiers = new ArrayList<>();
    ProcessIo io = s.io();
    copiers.add(copy(p.getInputStream(), io.stdout().orElse(null)));
    copiers.add(copy(p.getErrorStream(), io.stderr().orElse(null)));
    if (io.stdin().isPresent()) {
      Thread.ofPlatform().daemon().start(() -> pump(io.stdin().get(), p.getOutputStream()));
    } else {
      p.getOutputStream().close();
    }
    running.put(key(id, execId), new Running(p, copiers));
    return (int) p.pid();
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
  public void exec(String id, String execId, ProcessIo io, Any processSpec) throws IOException {
    specs.put(key(id, execId), spec(JSON.readTree(processSpec.getValue().toStringUtf8()), io));
  }

  @Override
  public Exit await(String id, String execId) throws InterruptedException {
    Running r = running.get(key(id, execId));
    int status = r.process.waitFor();
    for (Thread t : r.copiers) {
      t.join();
    }
    return new Exit((int) r.process.pid(), status, Instant.now());
  }

  @Override
  public void kill(String id, String execId, int signal, boolean all) throws Exception {
    Running r = running.get(key(id, execId));
    if (r == null) {
      return;
    }
    new ProcessBuilder("kill", "-" + signal, Long.toString(r.process.pid())).start().waitFor();
  }

  @Override
  public Exit delete(String id, String execId) {
    Running r = running.remove(key(id, execId));
    specs.remove(key(id, execId));
    if (r == null) {
      return new Exit(0, 0, Instant.now());
    }
    return new Exit((int) r.process.pid(), r.process.exitValue(), Instant.now());
  }

  @Override
  public void resizePty(String id, String execId, int width, int height) {}

  @Override
  public void closeStdin(String id, String execId) {}

  @Override
  public Any stats(String id) {
    throw new UnsupportedOperationException("no stats in the host test backend");
  }

  @Override
  public void update(String id, Any resources, Map<String, String> annotations) {}

  @Override
  public void pause(String id) {
    throw new UnsupportedOperationException("pause");
  }

  @Override
  public void resume(String id) {
    throw new UnsupportedOperationException("resume");
  }

  @Override
  public void shutdown() {
    running.values().forEach(r -> r.process.destroyForcibly());
  }
}
