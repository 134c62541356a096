package dev.kataoperator.shim.containerd;

import com.google.protobuf.Any;
import com.google.protobuf.StringValue;
import dev.kataoperator.shim.ttrpc.TtrpcException;
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
  volatile boolean shutdown;

  static String key(String id, String execId) {
    return execId.isEmpty() ? id : id + "/" + execId;
  }

  void exit(String id, String execId, int status) {
    exits.get(key(id, execId)).complete(new Exit(0, status, Instant.ofEpochSecond(1_700_000_000)));
  }

  @Override
  public int create(CreateRequest r) {
    calls.add("create " + r.containerId() + " " + r.bundle() + " " + r.rootfs().size());
    if (failCreate != null) {
      throw failCreate;
    }
    exits.put(r.containerId(), new CompletableFuture<>());
    ios.put(r.containerId(), r.io());
    return nextPid.getAndIncrement();
  }

  @Override
  public int start(String id, String execId) {
    calls.add("start " + key(id, execId));
    return 1000 + calls.size();
  }

  @Override
  public void exec(String id, String execId, ProcessIo io, Any spec) {
    calls.add("exec " + key(id, execId) + " " + spec.getTypeUrl());
    exits.put(key(id, execId), new CompletableFuture<>());
    ios.put(key(id, execId), io);
  }

  @Override
  public Exit await(String id, String execId) throws Exception {
    Exit e = exits.get(key(id, execId)).get();
    return new Exit(1000, e.status(), e.exitedAt());
  }

  @Override
  public void kill(String id, String execId, int signal, boolean all) {
    calls.add("kill " + key(id, execId) + " " + signal + " " + all);
    exits.get(key(id, execId)).complete(new Exit(0, 128 + signal, Instant.now()));
  }

  @Override
  public Exit delete(String id, String execId) {
    calls.add("delete " + key(id, execId));
    return new Exit(0, 0, Instant.now());
  }

  @Override
  public void resizePty(String id, String execId, int width, int height) {
    calls.add("resize " + key(id, execId) + " " + width + "x" + height);
  }

  @Override
  public void closeStdin(String id, String execId) {
    calls.add("closeStdin " + key(id, execId));
  }

  @Override
  public List<Integer> pids(String id) {
    return List.of(4242);
  }

  @Override
  public Any stats(String id) {
    if (id.equals("nostats")) {
      throw new UnsupportedOperationException("no stats here");
    }
    return Any.pack(StringValue.of("stats of " + id));
  }

  @Override
  public void update(String id, Any resources, Map<String, String> annotations) {
    calls.add("update " + id + " " + annotations);
  }

  @Override
  public void pause(String id) {
    calls.add("pause " + id);
  }

  @Override
  public void resume(String id) {
    if (id.equals("stuck")) {
      throw TtrpcException.failedPrecondition("cannot resume %s", id);
    }
    calls.add("resume " + id);
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
