package dev.kataoperator.shim.containerd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kataoperator.shim.containerd.api.bootstrap.BootstrapParams;
import dev.kataoperator.shim.containerd.api.bootstrap.BootstrapResult;
import dev.kataoperator.shim.containerd.api.task.DeleteResponse;
import dev.kataoperator.shim.host.Native;
import dev.kataoperator.shim.ttrpc.TtrpcServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.System.Logger.Level;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;

/**
 * The shim binary's entry point for containerd: {@code start} (which goes on to serve the pod) and
 * {@code delete}. The launcher's main calls {@link #run} and exits with its result.
 *
 * <p><b>start</b> (containerd runs it with the bundle as cwd, stdout and stderr read together as
 * the answer): the socket is named after the grouping id (the CRI sandbox id from the spec's {@code
 * io.kubernetes.cri.sandbox-id} annotation, else the container id), {@code
 * unix:///run/containerd/s/<sha256(address/namespace/group)>} as containerd's own shims do. If a
 * shim already serves it, that address is the answer. Otherwise this JVM binds the socket, answers,
 * lets go of containerd's pipes and serves the pod itself: one JVM start per pod. That needs the
 * launchers ({@code KATA_SHIM_START_SERVES=1}, shim/payload/shim-launch.sh), which run the JVM in
 * the background and hand its answer to containerd, which waits for start to exit; without them
 * start refuses with an error saying so. The answer is the plain address, which every containerd
 * reads (1.6 only that; 1.7-2.2 try JSON first and fall back to it; 2.3+ try protobuf first and
 * fall back) and which makes all of them use the task API v2. When containerd 2.3+ wrote
 * BootstrapParams to stdin (recognised by instance_id and namespace matching the flags), the answer
 * is a BootstrapResult protobuf instead: version 2, the address, ttrpc.
 *
 * <p><b>delete</b>: runs the cleanup hook and prints a DeleteResponse (exit status 137, now).
 */
public final class ShimMain {
  private static final System.Logger LOG = System.getLogger(ShimMain.class.getName());
  static final String SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";
  static final String DEFAULT_SOCKET_DIR = "/run/containerd/s";

  /**
   * Set by the launchers: {@code start} serves the pod itself once it has answered; they run it in
   * the background and return its answer to containerd (shim/payload/shim-launch.sh).
   */
  static final String START_SERVES_ENV = "KATA_SHIM_START_SERVES";

  static final String VERSION =
      java.util.Objects.requireNonNullElse(
          ShimMain.class.getPackage().getImplementationVersion(), "0.1.0-dev");

  private ShimMain() {}

  /** Runs the shim with containerd's arguments; returns the process exit code. */
  public static int run(String[] args, ShimHooks hooks) {
    return run(args, hooks, System.in, System.out, System.err);
  }

  static int run(String[] args, ShimHooks hooks, InputStream in, PrintStream out, PrintStream err) {
    ShimFlags flags;
    try {
      flags = ShimFlags.parse(args);
    } catch (IllegalArgumentException e) {
      err.println(e.getMessage());
      return 2;
    }
    if (flags.version()) {
      out.println("containerd-shim-kata-qemu-v2:\n  Version: " + VERSION);
      return 0;
    }
    if (flags.info()) {
      // containerd 2.x runs `-info` (stdin: runtime options) and parses a RuntimeInfo.
      try {
        in.readAllBytes();
        out.write(
            dev.kataoperator.shim.containerd.api.types.RuntimeInfo.newBuilder()
                .setName("io.containerd.kata-qemu.v2")
                .setVersion(
                    dev.kataoperator.shim.containerd.api.types.RuntimeVersion.newBuilder()
                        .setVersion(VERSION))
                .build()
                .toByteArray());
        out.flush();
        return 0;
      } catch (IOException e) {
        err.print(e);
        return 1;
      }
    }
    // Nothing but the answer may reach containerd's pipes: no console logging.
    java.util.logging.LogManager.getLogManager().reset();
    try {
      return switch (flags.action()) {
        case "start" -> start(flags, hooks, in, out);
        case "delete" -> delete(flags, hooks, out);
        default -> {
          err.println("unknown action " + flags.action() + " (expected start or delete)");
          yield 2;
        }
      };
    } catch (Exception e) {
      // containerd shows this text in its error for a failed start or delete.
      err.print("containerd-shim-kata-qemu-v2: " + e);
      err.flush();
      return 1;
    }
  }

  // ---------------------------------------------------------------------------------------- start

  static int start(ShimFlags flags, ShimHooks hooks, InputStream in, PrintStream out)
      throws Exception {
    requireFlag(flags.namespace(), "namespace");
    requireFlag(flags.id(), "id");
    Path bundle = bundle(flags);
    byte[] stdin = in.readAllBytes();
    Optional<BootstrapParams> bootstrap = bootstrapParams(stdin, flags);
    String ttrpcAddress =
        bootstrap
            .map(BootstrapParams::getContainerdTtrpcAddress)
            .filter(s -> !s.isEmpty())
            .orElseGet(() -> System.getenv().getOrDefault("TTRPC_ADDRESS", ""));
    String grpcAddress = flags.address();
    String group = groupId(bundle, flags.id());
    Path socketDir =
        Path.of(
            bootstrap
                .filter(BootstrapParams::hasSocketDir)
                .map(BootstrapParams::getSocketDir)
                .orElseGet(
                    () ->
                        System.getenv().getOrDefault("KATA_SHIM_SOCKET_DIR", DEFAULT_SOCKET_DIR)));
    Path socket = socketPath(socketDir, grpcAddress, flags.namespace(), group);
    String address = "unix://" + socket;

    Files.createDirectories(socketDir);
    boolean serveHere = "1".equals(System.getenv(START_SERVES_ENV));
    ServerSocketChannel listener = null;
    try (FileChannel lockFile =
            FileChannel.open(
                socketDir.resolve(socket.getFileName() + ".lock"),
                StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock ignored = lockFile.lock()) {
      if (!canConnect(socket)) {
        Files.deleteIfExists(socket);
        if (!serveHere) {
          throw new IllegalStateException(
              "start must run through the shim's launcher (bin/containerd-shim-kata-qemu-v2),"
                  + " which serves the pod in the background once this JVM has answered ("
                  + START_SERVES_ENV
                  + "=1)");
        }
        // Listening before the answer: containerd's first connection waits in the backlog.
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(socket));
      }
    }
    Files.writeString(bundle.resolve("address"), address);
    if (listener != null) {
      // While the launcher, containerd's child, is still this JVM's parent: containerd's score + 1.
      adjustOomScore(ProcessHandle.current().pid());
    }

    if (bootstrap.isPresent()) {
      out.write(
          BootstrapResult.newBuilder()
              .setVersion(2)
              .setAddress(address)
              .setProtocol("ttrpc")
              .build()
              .toByteArray());
    } else {
      out.print(address);
    }
    out.flush();
    if (listener == null) {
      return 0;
    }
    // containerd reads the answer until every writer of its pipes is gone.
    Native.detachStdio();
    try {
      return serveOn(context(flags, bundle, ttrpcAddress), hooks, listener, socket, flags.debug());
    } catch (Exception e) {
      // stderr is /dev/null now: the shim's log is the only place left to say it.
      LOG.log(Level.ERROR, "the shim server for " + flags.id() + " failed", e);
      return 1;
    }
  }

  /** containerd 2.3+'s BootstrapParams on stdin, told apart from older runtime options. */
  static Optional<BootstrapParams> bootstrapParams(byte[] stdin, ShimFlags flags) {
    if (stdin.length == 0) {
      return Optional.empty();
    }
    try {
      BootstrapParams p = BootstrapParams.parseFrom(stdin);
      if (p.getInstanceId().equals(flags.id()) && p.getNamespace().equals(flags.namespace())) {
        return Optional.of(p);
      }
    } catch (InvalidProtocolBufferException e) {
      // older containerd: stdin carries runtime options (an Any), or nothing
    }
    return Optional.empty();
  }

  /** The pod's sandbox id from the bundle's config.json annotations, else the container id. */
  static String groupId(Path bundle, String id) throws IOException {
    Path config = bundle.resolve("config.json");
    if (!Files.exists(config)) {
      return id;
    }
    JsonNode spec = new ObjectMapper().readTree(config.toFile());
    JsonNode sandbox = spec.path("annotations").path(SANDBOX_ID_ANNOTATION);
    return sandbox.isTextual() && !sandbox.asText().isEmpty() ? sandbox.asText() : id;
  }

  /** As containerd's shim.SocketAddress: sha256 of "address/namespace/group", under socketDir. */
  static Path socketPath(Path socketDir, String address, String namespace, String group) {
    String key = Path.of(address, namespace, group).normalize().toString();
    if (address.isEmpty()) {
      key = Path.of(namespace, group).toString();
    }
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
      return socketDir.resolve(HexFormat.of().formatHex(d));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static boolean canConnect(Path socket) {
    if (!Files.exists(socket)) {
      return false;
    }
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      return ch.connect(UnixDomainSocketAddress.of(socket));
    } catch (IOException e) {
      return false;
    }
  }

  /** Like containerd's shims: the shim's OOM score is containerd's plus one. */
  private static void adjustOomScore(long pid) {
    try {
      long parent = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(1L);
      int score =
          Integer.parseInt(Files.readString(Path.of("/proc/" + parent + "/oom_score_adj")).trim());
      Files.writeString(
          Path.of("/proc/" + pid + "/oom_score_adj"), Integer.toString(Math.min(score + 1, 1000)));
    } catch (IOException | NumberFormatException e) {
      LOG.log(Level.DEBUG, "adjusting OOM score", e);
    }
  }

  // --------------------------------------------------------------------------------------- delete

  static int delete(ShimFlags flags, ShimHooks hooks, PrintStream out) throws Exception {
    requireFlag(flags.id(), "id");
    Path bundle = bundle(flags);
    ShimContext ctx = context(flags, bundle, System.getenv().getOrDefault("TTRPC_ADDRESS", ""));
    stopLiveServer(bundle);
    try {
      hooks.cleanup(ctx);
    } catch (Exception e) {
      LOG.log(Level.WARNING, "cleanup after a dead shim failed", e);
    }
    Instant now = Instant.now();
    out.write(
        DeleteResponse.newBuilder()
            .setPid(0)
            .setExitStatus(128 + 9)
            .setExitedAt(TaskService.timestamp(now))
            .build()
            .toByteArray());
    out.flush();
    return 0;
  }

  /**
   * How long a killed shim server gets to be gone before cleanup goes ahead anyway: containerd
   * kills {@code delete} itself after 5 s (its shim cleanup timeout), and the cleanup must fit.
   */
  static final Duration SERVER_EXIT_TIMEOUT = Duration.ofSeconds(2);

  /**
   * containerd runs {@code delete} when it has given up on a shim: the shim died, or containerd
   * stopped waiting for it (a cancelled or timed-out Create or RunPodSandbox closes the connection
   * and containerd then cleans up "the dead shim"). In the second case the server and its VM are
   * still running and nobody will ever ask them to stop: stop them here, before the cleanup removes
   * their mounts. Only the process in the bundle's {@code shim.pid} that is still a shim server for
   * exactly this bundle is killed (a pid may have been reused); the VM and its helpers die with it
   * (they are tied to the server's life).
   */
  static void stopLiveServer(Path bundle) {
    Optional<ProcessHandle> server = liveServer(bundle);
    if (server.isEmpty()) {
      return;
    }
    ProcessHandle h = server.get();
    LOG.log(
        Level.WARNING,
        "delete: the shim server {0} of {1} is still running; containerd gave up on it: stopping"
            + " it and its VM",
        h.pid(),
        bundle);
    Optional<String> socket = socketOfAddressFile(bundle);
    h.destroyForcibly();
    try {
      h.onExit().get(SERVER_EXIT_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      LOG.log(Level.WARNING, "delete: shim server {0} did not exit in time", h.pid());
    }
    socket
        .map(Path::of)
        .filter(s -> !canConnect(s))
        .ifPresent(
            s -> {
              try {
                Files.deleteIfExists(s);
                Files.deleteIfExists(s.resolveSibling(s.getFileName() + ".lock"));
              } catch (IOException e) {
                LOG.log(Level.DEBUG, "removing " + s, e);
              }
            });
  }

  /** The running shim server of {@code bundle}, if its pid file names one. */
  static Optional<ProcessHandle> liveServer(Path bundle) {
    long pid;
    try {
      pid = Long.parseLong(Files.readString(bundle.resolve("shim.pid")).strip());
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
    if (pid == ProcessHandle.current().pid()) {
      return Optional.empty();
    }
    List<String> args = cmdline(pid);
    // The server is the JVM that answered start: it runs in the bundle (containerd's cwd).
    boolean isServerOfBundle =
        args.contains("start") && cwd(pid).map(b -> sameDirectory(b, bundle)).orElse(false);
    return isServerOfBundle
        ? ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
        : Optional.empty();
  }

  private static boolean sameDirectory(Path a, Path b) {
    try {
      return a.equals(b) || Files.isSameFile(a, b);
    } catch (IOException e) {
      return false;
    }
  }

  private static Optional<Path> cwd(long pid) {
    try {
      return Optional.of(Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** The socket start wrote to the bundle's {@code address} file. */
  private static Optional<String> socketOfAddressFile(Path bundle) {
    try {
      String address = Files.readString(bundle.resolve("address")).strip();
      return address.startsWith("unix://")
          ? Optional.of(address.substring("unix://".length()))
          : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  private static List<String> cmdline(long pid) {
    try {
      byte[] raw = Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"));
      List<String> args = new ArrayList<>();
      int start = 0;
      for (int i = 0; i < raw.length; i++) {
        if (raw[i] == 0) {
          args.add(new String(raw, start, i - start, StandardCharsets.UTF_8));
          start = i + 1;
        }
      }
      return args;
    } catch (IOException e) {
      return List.of();
    }
  }

  // ---------------------------------------------------------------------------------------- serve

  /** Serves the pod's task API on {@code listener} until Shutdown. */
  private static int serveOn(
      ShimContext ctx, ShimHooks hooks, ServerSocketChannel listener, Path socket, boolean debug)
      throws Exception {
    Native.setsid();
    Path bundle = ctx.bundle();
    ShimLog.install(bundle.resolve("log"), debug);
    Files.writeString(bundle.resolve("shim.pid"), Long.toString(ProcessHandle.current().pid()));

    CountDownLatch stop = new CountDownLatch(1);
    EventPublisher events = EventPublisher.toContainerd(ctx.ttrpcAddress(), ctx.namespace());
    TaskBackend backend = hooks.newBackend(ctx);
    TaskService tasks = new TaskService(backend, events, ctx.namespace(), stop::countDown);
    TtrpcServer server = new TtrpcServer();
    tasks.register(server);
    server.start(listener);
    LOG.log(Level.INFO, "shim for {0} serving on {1}", ctx.groupId(), socket);
    stop.await();
    LOG.log(Level.INFO, "shim for {0} shutting down", ctx.groupId());
    server.shutdown(Duration.ofSeconds(5));
    events.close();
    Files.deleteIfExists(socket);
    Files.deleteIfExists(socket.resolveSibling(socket.getFileName() + ".lock"));
    return 0;
  }

  private static ShimContext context(ShimFlags flags, Path bundle, String ttrpcAddress)
      throws IOException {
    return new ShimContext(
        flags.namespace().isEmpty()
            ? System.getenv().getOrDefault("NAMESPACE", "")
            : flags.namespace(),
        flags.id(),
        groupId(bundle, flags.id()),
        bundle,
        flags.address(),
        ttrpcAddress,
        flags.debug());
  }

  private static Path bundle(ShimFlags flags) {
    return (flags.bundle().isEmpty() ? Path.of("") : Path.of(flags.bundle())).toAbsolutePath();
  }

  private static void requireFlag(String value, String name) {
    if (value == null || value.isEmpty()) {
      throw new IllegalArgumentException("shim -" + name + " cannot be empty");
    }
  }
}
