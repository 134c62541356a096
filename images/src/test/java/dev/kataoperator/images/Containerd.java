package dev.kataoperator.images;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A containerd on private root, state and socket paths (never the system one), with its ctr. */
final class Containerd implements AutoCloseable {
  /** Debian's 1.6 and 2.2 from the Go module proxy (scripts/setup.sh). */
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

  record Result(int exit, String out, String err) {
    Result ok() {
      if (exit != 0) {
        throw new AssertionError("exit " + exit + ":\n" + err + out);
      }
      return this;
    }
  }

  private final Version version;
  private final Path dir;
  private final Process process;

  private Containerd(Version version, Path dir, Process process) {
    this.version = version;
    this.dir = dir;
    this.process = process;
  }

  static Containerd start(Version version, Path dir) throws Exception {
    Files.createDirectories(dir);
    Path config = dir.resolve("config.toml");
    // v2 config: both 1.6 and 2.2 read it.
    Files.writeString(
        config,
        "version = 2\nroot = \"%s\"\nstate = \"%s\"\n[grpc]\n  address = \"%s\"\n[ttrpc]\n  address = \"%s\"\n"
            .formatted(
                dir.resolve("root"),
                dir.resolve("state"),
                dir.resolve("containerd.sock"),
                dir.resolve("containerd.sock.ttrpc")));
    var pb =
        new ProcessBuilder(version.containerd.toString(), "--config", config.toString())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("containerd.log").toFile());
    // Its own runc shim first (2.2 brings one; 1.6 uses Debian's).
    pb.environment()
        .put("PATH", version.containerd.getParent() + ":" + pb.environment().get("PATH"));
    var c = new Containerd(version, dir, pb.start());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) {
      if (!c.process.isAlive()) {
        throw new IllegalStateException("containerd exited:\n" + c.log());
      }
      if (Files.exists(dir.resolve("containerd.sock")) && c.ctr("version").exit() == 0) {
        return c;
      }
      if (System.nanoTime() > deadline) {
        c.close();
        throw new IllegalStateException("containerd did not come up in 60 s:\n" + c.log());
      }
      Thread.sleep(200);
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

  /** ctr in the k8s.io namespace (where kubelet's images live). */
  Result ctr(String... args) throws Exception {
    return ctrWithTimeout(300, args);
  }

  Result ctrWithTimeout(long seconds, String... args) throws Exception {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                version.ctr.toString(),
                "--address",
                dir.resolve("containerd.sock").toString(),
                "-n",
                "k8s.io"));
    cmd.addAll(List.of(args));
    return run(cmd, seconds);
  }

  /** Kills and removes a container started with ctr run -d (nothing is left behind). */
  void remove(String id) throws Exception {
    ctr("task", "kill", "-s", "SIGKILL", id);
    for (int i = 0; i < 50 && ctr("task", "delete", id).exit() != 0; i++) {
      Thread.sleep(200);
    }
    ctr("container", "delete", id);
  }

  static Result run(List<String> cmd, long seconds) throws Exception {
    Path out = Files.createTempFile("cmd", ".out");
    Path err = Files.createTempFile("cmd", ".err");
    try {
      Process p =
          new ProcessBuilder(cmd)
              .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
              .redirectOutput(out.toFile())
              .redirectError(err.toFile())
              .start();
      if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("timed out after " + seconds + " s: " + String.join(" ", cmd));
      }
      return new Result(
          p.exitValue(),
          Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
