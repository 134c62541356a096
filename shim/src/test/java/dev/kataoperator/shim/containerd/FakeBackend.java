package dev.kataoperator.shim.containerd;

import com.google.protobuf.Any;
import com.google.protobuf.StringValue;
import dev.kataoperator.shim.containerd.io.ProcessIo;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/** A TaskBackend that only records calls; processes exit when the test (or a kill) says so. */
final class FakeBackend implements TaskBackend {
  final List<String> calls = new CopyOnWriteArrayList<>();
  final Map<String, CompletableFuture<Exit>> exits = new ConcurrentHashMap<>();
  final Map<String, ProcessIo> ios = new ConcurrentHashMap<>();
  final AtomicInteger nextPid = new AtomicInteger(100);
  volatile Consumer<String> oom;
  volatile RuntimeException failCreate;
  volatile Duration createTakes = Duration.ZERO;
  volatile Duration deleteTakes = Duration.ZERO;
  volatile RuntimeException failStart;
  volatile boolean shutdown;

  static String key(String id, String execId) {
    return execId.isEmpty() ? id : id + "/" + execId;
  }

  void exit(String id, String execId, int status) {
    exits.get(key(id, execId)).complete(new Exit(0, status, Instant.ofEpochSecond(1_700_000_000)));
  }

  @Override
  public Container create(CreateRequest r) {
    calls.add("create " + r.containerId() + " " + r.bundle() + " " + r.rootfs().size());
    try {
      Thread.sleep(createTakes);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    if (failCreate != null) {
      throw failCreate;
    }
    exits.put(r.containerId(), new CompletableFuture<>());
    ios.put(r.containerId(), r.io());
    return new FakeContainer(r.containerId(), nextPid.getAndIncrement());
  }

  private final class FakeContainer implements Container {
    final String id;
    final FakeProcess init;

    FakeContainer(String id, int pid) {
      this.id = id;
      this.init = new FakeProcess(id, "", pid);
    }

    @Override
    public Process init() {
      return init;
    }

    @Override
    public Process exec(String execId, ProcessIo io, Any spec) {
      calls.add("exec " + key(id, execId) + " " + spec.getTypeUrl());
      exits.put(key(id, execId), new CompletableFuture<>());
      ios.put(key(id, execId), io);
      return new FakeProcess(id, execId, 0);
    }

    @Override
    public List<Integer> pids() {
      return List.of(4242);
    }

    @Override
    public Any stats() {
      if (id.equals("nostats")) {
        throw new UnsupportedOperationException("no stats here");
      }
      return Any.pack(StringValue.of("stats of " + id));
    }

    @Override
    public void update(Any resources, Map<String, String> annotations) {
      calls.add("update " + id + " " + annotations);
    }

    @Override
    public void pause() {
      calls.add("pause " + id);
    }

    @Override
    public void resume() {
      if (id.equals("stuck")) {
        throw TtrpcException.failedPrecondition("cannot resume %s", id);
      }
      calls.add("resume " + id);
    }
  }

  private final class FakeProcess implements Process {
    final String id;
    final String execId;
    final int pid;

    FakeProcess(String id, String execId, int pid) {
      this.id = id;
      this.execId = execId;
      this.pid = pid;
    }

    @Override
    public int pid() {
      return pid;
    }

    @Override
    public int start() {
      calls.add("start " + key(id, execId));
      if (failStart != null) {
        throw failStart;
      }
      return 1000 + calls.size();
    }

    @Override
    public Exit await() throws Exception {
      Exit e = exits.get(key(id, execId)).get();
      return new Exit(1000, e.status(), e.exitedAt());
    }

    @Override
    public void kill(int signal, boolean all) {
      calls.add("kill " + key(id, execId) + " " + signal + " " + all);
      exits.get(key(id, execId)).complete(new Exit(0, 128 + signal, Instant.now()));
    }

    @Override
    public Exit delete() {
      calls.add("delete " + key(id, execId));
      try {
        Thread.sleep(deleteTakes);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return new Exit(0, 0, Instant.now());
    }

    @Override
    public void resizePty(int width, int height) {
      calls.add("resize " + key(id, execId) + " " + width + "x" + height);
    }

    @Override
    public void closeStdin() {
      calls.add("closeStdin " + key(id, execId));
    }
  }

  @Override
  public void shutdown() {
    calls.add("shutdown");
    shutdown = true;
  }

  @Override
  public void onOom(Consumer<String> listener) {
    oom = listener;
  }
}
