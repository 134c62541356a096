package dev.kataoperator.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real containerd with private root, state and sockets, and its matching ctr, with the source
 * tree's shim launcher on its PATH (containerd finds containerd-shim-kata-qemu-v2 there).
 */
final class Containerd implements AutoCloseable {
  static final String RUNTIME = "io.containerd.kata-qemu.v2";

  /** The two versions the shim must work with: Debian's 1.6 and 2.2 from the Go module proxy. */
  enum Version {
    V1_6("/usr/bin/containerd", "/usr/bin/ctr"),
    V2_2("/opt/kata-dev-tools/bin/containerd", "/opt/kata-dev-tools/bin/ctr");

    final Path containerd;
    final Path ctr;

    Version(String containerd, String ctr) {
      this.containerd = Path.of(containerd);
      this.ctr = Path.of(ctr);
    }
  }

  record Result(int exit, String out, String err) {}

  private final Version version;
  private final Path dir;
  private final Process process;

  private Containerd(Version version, Path dir, Process process) {
    this.version = version;
    this.dir = dir;
    this.process = process;
  }

  Path socket() {
    return dir.resolve("containerd.sock");
  }

  static Containerd start(Version version, Path dir, String extraConfig) throws Exception {
    return start(version, dir, extraConfig, Repo.root().resolve("shim/bin"), true);
  }

  /**
   * @param shimDir directory put first on containerd's PATH, where it finds the shim
   * @param devConfig point the shim at the source tree's guest (else the shim's own default)
   */
  static Containerd start(
      Version version, Path dir, String extraConfig, Path shimDir, boolean devConfig)
      throws Exception {
    Files.createDirectories(dir);
    Path config = dir.resolve("config.toml");
    Files.writeString(
        config,
        "version = 2\n"
            + "root = \""
            + dir.resolve("root")
            + "\"\nstate = \""
            + dir.resolve("state")
            + "\"\n[grpc]\n  address = \""
            + dir.resolve("containerd.sock")
            + "\"\n[ttrpc]\n  address = \""
            + dir.resolve("containerd.sock.ttrpc")
            + "\"\n"
            + extraConfig);
    var pb =
        new ProcessBuilder(version.containerd.toString(), "--config", config.toString())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("containerd.log").toFile());
    Map<String, String> env = pb.environment();
    // containerd also finds its own runc shim on PATH: the one of its own version first.
    env.put("PATH", shimDir + ":" + version.containerd.getParent() + ":" + env.get("PATH"));
    env.remove("KATA_CONFIG");
    if (devConfig) {
      env.put("KATA_CONFIG", Repo.guestDir().resolve("kata-qemu.toml").toString());
    }
    Process p = pb.start();
    var c = new Containerd(version, dir, p);
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (true) {
      if (!p.isAlive()) {
        throw new IllegalStateException("containerd exited:\n" + c.log());
      }
      if (Files.exists(c.socket()) && c.ctr("version").exit() == 0) {
        return c;
      }
      if (System.nanoTime() > deadline) {
        c.close();
        throw new IllegalStateException("containerd did not come up:\n" + c.log());
      }
      Thread.sleep(100);
    }
  }

  String log() {
    try {
      String s = Files.readString(dir.resolve("containerd.log"));
      return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
    } catch (IOException e) {
      return "";
    }
  }

  Result ctr(String... args) throws Exception {
    return ctrWithInput(null, args);
  }

  Result ctrWithInput(byte[] stdin, String... args) throws Exception {
    var cmd =
        new ArrayList<String>(List.of(version.ctr.toString(), "--address", socket().toString()));
    cmd.addAll(List.of(args));
    return run(cmd, stdin, 180);
  }

  /** crictl against this containerd's CRI plugin; stdout is stripped of its final newline. */
  Result crictl(String... args) throws Exception {
    var cmd =
        new ArrayList<String>(
            List.of(
                "/opt/kata-dev-tools/bin/crictl",
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

  /** Runs ctr under script(1), which gives it the terminal that {@code ctr run -t} needs. */
  Result ctrInTerminal(String... args) throws Exception {
    var cmd =
        new ArrayList<String>(List.of(version.ctr.toString(), "--address", socket().toString()));
    cmd.addAll(List.of(args));
    String line = String.join(" ", cmd.stream().map(Containerd::quote).toList());
    return run(List.of("script", "-qec", line, "/dev/null"), new byte[0], 180);
  }

  private static String quote(String s) {
    return "'" + s.replace("'", "'\\''") + "'";
  }

  private static Result run(List<String> cmd, byte[] stdin, long timeoutSeconds) throws Exception {
    Process p = new ProcessBuilder(cmd).start();
    byte[][] outputs = new byte[2][];
    Thread o =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    outputs[0] = p.getInputStream().readAllBytes();
                  } catch (IOException e) {
                    outputs[0] = new byte[0];
                  }
                });
    Thread e =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    outputs[1] = p.getErrorStream().readAllBytes();
                  } catch (IOException ex) {
                    outputs[1] = new byte[0];
                  }
                });
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

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
  }
}
