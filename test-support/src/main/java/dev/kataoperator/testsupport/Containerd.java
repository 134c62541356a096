package dev.kataoperator.testsupport;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A real containerd for one test: private root, state and sockets under a test directory, its
 * matching ctr, crictl against its CRI plugin, and (when supervised) a restart command a test can
 * hand to the code under test. Nothing of it outlives {@link #close()}.
 *
 * <p>Two ways to configure it: {@link Builder#extraConfig} generates a version 2 config with the
 * private paths in it (the end-to-end tests), {@link Builder#config} runs a config file the test
 * owns, with the private paths given as flags so the file stays exactly as the test wrote it (the
 * installer's tests).
 */
public final class Containerd implements AutoCloseable {
  /** The Kata runtime type the end-to-end tests run. */
  public static final String RUNTIME = "io.containerd.kata-qemu.v2";

  public static final Path CRICTL = Path.of("/opt/kata-dev-tools/bin/crictl");

  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
  private static final Pattern VERSION = Pattern.compile("\\s+v?(\\d+\\.\\d+\\.\\d+)");

  /** The two versions the project supports: Debian's 1.6 and 2.2 from the Go module proxy. */
  public enum Version {
    V1_6("/usr/bin/containerd", "/usr/bin/ctr"),
    V2_2("/opt/kata-dev-tools/bin/containerd", "/opt/kata-dev-tools/bin/ctr");

    public final Path containerd;
    public final Path ctr;

    Version(String containerd, String ctr) {
      this.containerd = Path.of(containerd);
      this.ctr = Path.of(ctr);
    }

    /** Whether this machine has the binaries ({@code make setup} installs them). */
    public boolean installed() {
      return Files.isExecutable(containerd) && Files.isExecutable(ctr);
    }

    /** The release as {@code containerd --version} prints it, e.g. {@code 1.6.20}. */
    public String release() throws Exception {
      Result r = run(List.of(containerd.toString(), "--version"), null, 60);
      var m = VERSION.matcher(r.out());
      if (r.exit() != 0 || !m.find()) {
        throw new IllegalStateException(containerd + " --version: " + r);
      }
      return m.group(1);
    }
  }

  public record Result(int exit, String out, String err) {}

  /** What a supervised containerd's restart command does the next time it runs (once). */
  public enum RestartFault {
    /** Exits 0 without restarting anything: containerd keeps its old config. */
    NOOP,
    /** Exits 1 without restarting anything. */
    FAIL,
    /** Stops containerd and leaves it stopped until the next restart. */
    DOWN
  }

  private final Version version;
  private final Path dir;
  private final Process process;
  private final boolean supervised;

  private Containerd(Version version, Path dir, Process process, boolean supervised) {
    this.version = version;
    this.dir = dir;
    this.process = process;
    this.supervised = supervised;
  }

  // --- starting -------------------------------------------------------------------------------

  /** The end-to-end tests' containerd: the source tree's shim on PATH and the dev guest config. */
  public static Containerd start(Version version, Path dir, String extraConfig) throws Exception {
    return start(version, dir, extraConfig, repoRoot().resolve("shim/bin"), true);
  }

  /**
   * @param shimDir directory put first on containerd's PATH, where it finds the shim
   * @param devConfig point the shim at the source tree's guest (else the shim's own default)
   */
  public static Containerd start(
      Version version, Path dir, String extraConfig, Path shimDir, boolean devConfig)
      throws Exception {
    return builder(version, dir)
        .extraConfig(extraConfig)
        .shimDir(shimDir)
        .devConfig(devConfig)
        .start();
  }

  /** containerd on {@code config} exactly as the test wrote it; returns once CRI answers. */
  public static Containerd startWithConfig(Version version, Path config, Path dir)
      throws Exception {
    return builder(version, dir).config(config).requireCri(true).start();
  }

  public static Builder builder(Version version, Path dir) {
    return new Builder(version, dir);
  }

  /** How to start one containerd. */
  public static final class Builder {
    private final Version version;
    private final Path dir;
    private Optional<Path> config = Optional.empty();
    private String extraConfig = "";
    private Optional<Path> shimDir = Optional.empty();
    private boolean devConfig;
    private boolean requireCri;
    private boolean supervised;

    private Builder(Version version, Path dir) {
      this.version = version;
      this.dir = dir.toAbsolutePath();
    }

    /** Run this config file, untouched; root, state and address go on the command line. */
    public Builder config(Path file) {
      this.config = Optional.of(file.toAbsolutePath());
      return this;
    }

    /** Generate {@code dir/config.toml} (version 2, the private paths) followed by this text. */
    public Builder extraConfig(String text) {
      this.extraConfig = text;
      return this;
    }

    /** Put this directory first on containerd's PATH (where it looks for shims). */
    public Builder shimDir(Path d) {
      this.shimDir = Optional.of(d);
      return this;
    }

    /** Set KATA_CONFIG to the source tree's dev guest config for the shims it starts. */
    public Builder devConfig(boolean on) {
      this.devConfig = on;
      return this;
    }

    /** Wait until the CRI plugin answers too (and fail fast when it did not load). */
    public Builder requireCri(boolean on) {
      this.requireCri = on;
      return this;
    }

    /**
     * Run containerd under a small supervisor that starts it again whenever it exits, so {@link
     * #restartCommand()} can restart it the way systemd would.
     */
    public Builder supervised(boolean on) {
      this.supervised = on;
      return this;
    }

    public Containerd start() throws Exception {
      Files.createDirectories(dir);
      Path socket = dir.resolve("containerd.sock");
      List<String> cmd = new ArrayList<>(List.of(version.containerd.toString(), "--config"));
      if (config.isPresent()) {
        cmd.addAll(
            List.of(
                config.get().toString(),
                "--root",
                dir.resolve("root").toString(),
                "--state",
                dir.resolve("state").toString(),
                "--address",
                socket.toString()));
      } else {
        Path generated = dir.resolve("config.toml");
        Files.writeString(
            generated,
            "version = 2\n"
                + "root = \""
                + dir.resolve("root")
                + "\"\nstate = \""
                + dir.resolve("state")
                + "\"\n[grpc]\n  address = \""
                + socket
                + "\"\n[ttrpc]\n  address = \""
                + dir.resolve("containerd.sock.ttrpc")
                + "\"\n"
                + extraConfig);
        cmd.add(generated.toString());
      }
      Path log = dir.resolve("containerd.log");
      ProcessBuilder pb;
      if (supervised) {
        Path supervisor = script("supervise.sh", SUPERVISE);
        script("restart.sh", RESTART.replace("@DIR@", dir.toString()));
        List<String> sup =
            new ArrayList<>(List.of("/bin/sh", supervisor.toString(), dir.toString()));
        sup.addAll(cmd);
        pb =
            new ProcessBuilder(sup)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
      } else {
        pb =
            new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
      }
      Map<String, String> env = pb.environment();
      // containerd also finds its own runc shim on PATH: the one of its own version first.
      env.put(
          "PATH",
          shimDir.map(d -> d + ":").orElse("")
              + version.containerd.getParent()
              + ":"
              + env.get("PATH"));
      env.remove("KATA_CONFIG");
      if (devConfig) {
        env.put("KATA_CONFIG", guestDir().resolve("kata-qemu.toml").toString());
      }
      var c = new Containerd(version, dir, pb.start(), supervised);
      try {
        c.awaitServing(START_TIMEOUT, requireCri);
      } catch (Exception | AssertionError e) {
        c.close();
        throw e;
      }
      return c;
    }

    private Path script(String name, String text) throws IOException {
      Path p = dir.resolve(name);
      Files.writeString(p, text);
      Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
      return p;
    }
  }

  /** Starts containerd again and again until {@code $dir/stop} exists; pauses while down. */
  private static final String SUPERVISE =
      """
      #!/bin/sh
      # A test's stand-in for systemd: keeps one containerd running, starting it again whenever it
      # exits, until $dir/stop exists. While $dir/down exists it stays stopped.
      dir=$1; shift
      while [ ! -e "$dir/stop" ]; do
        if [ -e "$dir/down" ]; then sleep 0.1; continue; fi
        "$@" </dev/null &
        echo $! > "$dir/containerd.pid.tmp" && mv "$dir/containerd.pid.tmp" "$dir/containerd.pid"
        wait $!
      done
      """;

  /** Like systemctl restart: returns once the old containerd is gone and a new one runs. */
  private static final String RESTART =
      """
      #!/bin/sh
      # Restarts the test's containerd, like `systemctl restart`: returns once the old process is
      # gone and the supervisor has started a new one. $dir/restart-fault breaks one restart.
      dir='@DIR@'
      fault=$(cat "$dir/restart-fault" 2>/dev/null); rm -f "$dir/restart-fault"
      case "$fault" in
        NOOP) exit 0 ;;
        FAIL) echo "restart refused (test fault)" >&2; exit 1 ;;
      esac
      old=$(cat "$dir/containerd.pid" 2>/dev/null)
      if [ "$fault" = DOWN ]; then touch "$dir/down"; else rm -f "$dir/down"; fi
      [ -n "$old" ] && kill -TERM "$old" 2>/dev/null
      i=0
      while [ -n "$old" ] && kill -0 "$old" 2>/dev/null; do
        i=$((i+1)); [ $i -eq 300 ] && kill -KILL "$old" 2>/dev/null; sleep 0.1
      done
      [ "$fault" = DOWN ] && exit 0
      i=0
      while [ "$(cat "$dir/containerd.pid" 2>/dev/null)" = "$old" ]; do
        i=$((i+1)); [ $i -gt 600 ] && { echo "containerd did not come back" >&2; exit 1; }
        sleep 0.1
      done
      exit 0
      """;

  /**
   * Waits until containerd answers ctr (and crictl, with {@code cri}). Fails at once when the
   * process is gone or the CRI plugin did not load.
   */
  public void awaitServing(Duration timeout, boolean cri) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      if (!supervised && !process.isAlive()) {
        throw new IllegalStateException("containerd exited " + process.exitValue() + ":\n" + log());
      }
      if (Files.exists(socket()) && ctr("version").exit() == 0) {
        if (!cri || crictl("info").exit() == 0) {
          return;
        }
        if (fullLog().contains("failed to load plugin io.containerd.grpc.v1.cri")) {
          throw new AssertionError("containerd's CRI plugin did not load:\n" + fullLog());
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(
            "containerd did not come up in " + timeout.toSeconds() + " s:\n" + log());
      }
      Thread.sleep(100);
    }
  }

  // --- what tests use ---------------------------------------------------------------------------

  public Version version() {
    return version;
  }

  public Path dir() {
    return dir;
  }

  public Path socket() {
    return dir.resolve("containerd.sock");
  }

  /** The running containerd's pid (it changes with every restart of a supervised one). */
  public long pid() throws IOException {
    if (!supervised) {
      return process.pid();
    }
    return Long.parseLong(Files.readString(dir.resolve("containerd.pid")).strip());
  }

  /** The restart command of a supervised containerd, one argument per element. */
  public List<String> restartCommand() {
    requireSupervised();
    return List.of(dir.resolve("restart.sh").toString());
  }

  /** Makes the next run of {@link #restartCommand()} misbehave as {@code fault}. */
  public void breakNextRestart(RestartFault fault) throws IOException {
    requireSupervised();
    Files.writeString(dir.resolve("restart-fault"), fault.name());
  }

  /** Runs the restart command now, as the code under test would. */
  public void restart() throws Exception {
    Result r = run(restartCommand(), null, 120);
    if (r.exit() != 0) {
      throw new IllegalStateException("restart failed: " + r);
    }
  }

  private void requireSupervised() {
    if (!supervised) {
      throw new IllegalStateException("only a supervised containerd can be restarted");
    }
  }

  /** The last 4000 characters of containerd's log. */
  public String log() {
    String s = fullLog();
    return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
  }

  public String fullLog() {
    try {
      return Files.readString(dir.resolve("containerd.log"));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Whether this containerd's log says any plugin failed to load. */
  public boolean anyPluginFailed() {
    return fullLog().contains("failed to load plugin");
  }

  public Result ctr(String... args) throws Exception {
    return ctrWithInput(null, args);
  }

  public Result ctrWithInput(byte[] stdin, String... args) throws Exception {
    return ctr(stdin, 180, args);
  }

  /** ctr with a deadline of its own: one start among many at once may take minutes. */
  public Result ctrWithin(long timeoutSeconds, String... args) throws Exception {
    return ctr(null, timeoutSeconds, args);
  }

  private Result ctr(byte[] stdin, long timeoutSeconds, String... args) throws Exception {
    var cmd =
        new ArrayList<String>(List.of(version.ctr.toString(), "--address", socket().toString()));
    cmd.addAll(List.of(args));
    return run(cmd, stdin, timeoutSeconds);
  }

  /** crictl against this containerd's CRI plugin; stdout is stripped of its final newline. */
  public Result crictl(String... args) throws Exception {
    var cmd =
        new ArrayList<String>(
            List.of(
                CRICTL.toString(),
                // crictl's default request timeout (a few seconds) is shorter than a pod start
                // under software emulation on a slow machine; a caller's later --timeout wins.
                "--timeout",
                "120s",
                "--runtime-endpoint",
                "unix://" + socket(),
                "--image-endpoint",
                "unix://" + socket()));
    cmd.addAll(List.of(args));
    Result r = run(cmd, null, 120);
    return new Result(r.exit(), r.out().strip(), r.err());
  }

  /** {@code crictl info} as JSON. */
  public JsonNode info() throws Exception {
    Result r = crictl("info");
    if (r.exit() != 0) {
      throw new AssertionError("crictl info failed: " + r + "\n" + log());
    }
    return new ObjectMapper().readTree(r.out());
  }

  /** The CRI runtime handlers containerd reports, by name. */
  public JsonNode runtimes() throws Exception {
    return info().path("config").path("containerd").path("runtimes");
  }

  /** The handler names containerd reports, in its order. */
  public List<String> runtimeNames() throws Exception {
    List<String> names = new ArrayList<>();
    runtimes().fieldNames().forEachRemaining(names::add);
    return names;
  }

  /** Runs ctr under script(1), which gives it the terminal that {@code ctr run -t} needs. */
  public Result ctrInTerminal(String... args) throws Exception {
    var cmd =
        new ArrayList<String>(List.of(version.ctr.toString(), "--address", socket().toString()));
    cmd.addAll(List.of(args));
    String line = String.join(" ", cmd.stream().map(Containerd::quote).toList());
    return run(List.of("script", "-qec", line, "/dev/null"), new byte[0], 180);
  }

  private static String quote(String s) {
    return "'" + s.replace("'", "'\\''") + "'";
  }

  /** Runs a command to completion within {@code timeoutSeconds}, stdout and stderr captured. */
  public static Result run(List<String> cmd, byte[] stdin, long timeoutSeconds) throws Exception {
    return run(cmd, Map.of(), stdin, timeoutSeconds);
  }

  /** The same, with extra environment variables. */
  public static Result run(
      List<String> cmd, Map<String, String> env, byte[] stdin, long timeoutSeconds)
      throws Exception {
    var pb = new ProcessBuilder(cmd);
    pb.environment().putAll(new LinkedHashMap<>(env));
    Process p = pb.start();
    byte[][] outputs = new byte[2][];
    Thread o = Thread.ofVirtual().start(() -> outputs[0] = readAll(p.getInputStream()));
    Thread e = Thread.ofVirtual().start(() -> outputs[1] = readAll(p.getErrorStream()));
    try (var in = p.getOutputStream()) {
      if (stdin != null) {
        in.write(stdin);
      }
    }
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("timed out: " + String.join(" ", cmd));
    }
    o.join();
    e.join();
    return new Result(
        p.exitValue(),
        new String(outputs[0], StandardCharsets.UTF_8),
        new String(outputs[1], StandardCharsets.UTF_8));
  }

  private static byte[] readAll(java.io.InputStream in) {
    try {
      return in.readAllBytes();
    } catch (IOException e) {
      return new byte[0];
    }
  }

  /** Stops containerd (SIGTERM, then SIGKILL) and its supervisor, and waits for both. */
  @Override
  public void close() {
    try {
      if (supervised) {
        Files.writeString(dir.resolve("stop"), "");
        Files.deleteIfExists(dir.resolve("down"));
        stop(ProcessHandle.of(pid()));
      }
    } catch (IOException | RuntimeException e) {
      // no pid file: containerd never started; the supervisor goes below
    }
    stop(Optional.of(process.toHandle()));
  }

  private static void stop(Optional<ProcessHandle> handle) {
    if (handle.isEmpty()) {
      return;
    }
    ProcessHandle h = handle.get();
    h.destroy();
    try {
      h.onExit().get(20, TimeUnit.SECONDS);
    } catch (Exception e) {
      h.destroyForcibly();
      try {
        h.onExit().get(10, TimeUnit.SECONDS);
      } catch (Exception ignored) {
        // gone or unkillable: nothing more to do
      }
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
    }
  }

  // --- where the source tree is -----------------------------------------------------------------

  /** The repository root: KATA_REPO_ROOT (set by the modules' surefire config), else "..". */
  public static Path repoRoot() {
    String env = System.getenv("KATA_REPO_ROOT");
    Path p = env != null ? Path.of(env) : Path.of("..");
    return p.toAbsolutePath().normalize();
  }

  /** The built guest: KATA_GUEST_DIR, else build/guest in the repository. */
  public static Path guestDir() {
    String env = System.getenv("KATA_GUEST_DIR");
    return env != null ? Path.of(env) : repoRoot().resolve("build/guest");
  }
}
