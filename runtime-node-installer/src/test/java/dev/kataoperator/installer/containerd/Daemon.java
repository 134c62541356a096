package dev.kataoperator.installer.containerd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real containerd on private --root/--state/--address under a test directory, reached with crictl
 * over CRI. Started and stopped by the test; nothing of it outlives {@link #close()}.
 */
final class Daemon implements AutoCloseable {
  static final Path CRICTL = Path.of("/opt/kata-dev-tools/bin/crictl");

  /** The two containerd releases the project supports, as installed on these machines. */
  enum Release {
    V1_6("/usr/bin/containerd"),
    V2_2("/opt/kata-dev-tools/bin/containerd");

    final Path binary;

    Release(String binary) {
      this.binary = Path.of(binary);
    }
  }

  record Result(int exit, String out) {}

  private final Path dir;
  private final Process process;
  private final Path log;

  private Daemon(Path dir, Process process, Path log) {
    this.dir = dir;
    this.process = process;
    this.log = log;
  }

  Path socket() {
    return dir.resolve("c.sock");
  }

  /** Starts {@code release} with {@code config}; returns once CRI answers. */
  static Daemon start(Release release, Path config, Path dir) throws Exception {
    Files.createDirectories(dir);
    Path log = Files.createTempFile(dir, "containerd", ".log");
    Process p =
        new ProcessBuilder(
                release.binary.toString(),
                "--config",
                config.toString(),
                "--root",
                dir.resolve("root").toString(),
                "--state",
                dir.resolve("state").toString(),
                "--address",
                dir.resolve("c.sock").toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    var d = new Daemon(dir, p, log);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      if (!p.isAlive()) {
        throw new AssertionError("containerd exited " + p.exitValue() + ":\n" + d.log());
      }
      if (Files.exists(d.socket())) {
        Result r = d.crictl("info");
        if (r.exit() == 0) {
          return d;
        }
        if (d.log().contains("failed to load plugin io.containerd.grpc.v1.cri")) {
          d.close();
          throw new AssertionError("containerd's CRI plugin did not load:\n" + d.log());
        }
      }
      if (System.nanoTime() > deadline) {
        d.close();
        throw new AssertionError("containerd did not serve CRI in 30 s:\n" + d.log());
      }
      Thread.sleep(100);
    }
  }

  /** {@code crictl info} as JSON. */
  JsonNode info() throws Exception {
    Result r = crictl("info");
    if (r.exit() != 0) {
      throw new AssertionError("crictl info failed: " + r.out() + "\n" + log());
    }
    return new ObjectMapper().readTree(r.out());
  }

  /** The CRI runtime handlers containerd reports, by name. */
  JsonNode runtimes() throws Exception {
    return info().path("config").path("containerd").path("runtimes");
  }

  Result crictl(String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(CRICTL.toString());
    cmd.addAll(
        List.of(
            "--runtime-endpoint",
            "unix://" + socket(),
            "--image-endpoint",
            "unix://" + socket(),
            "--timeout",
            "5s"));
    cmd.addAll(List.of(args));
    return run(cmd, dir);
  }

  /** Runs a command to completion (60 s at most); stdout only, stderr discarded. */
  static Result run(List<String> cmd, Path dir) throws Exception {
    Path out = Files.createTempFile(dir, "out", ".txt");
    try {
      Process p =
          new ProcessBuilder(cmd)
              .redirectOutput(out.toFile())
              .redirectError(ProcessBuilder.Redirect.DISCARD)
              .start();
      p.getOutputStream().close();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
        throw new AssertionError("timed out: " + cmd);
      }
      return new Result(p.exitValue(), Files.readString(out));
    } finally {
      Files.deleteIfExists(out);
    }
  }

  String log() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Whether this containerd's log says any plugin failed to load. */
  boolean anyPluginFailed() {
    return log().contains("failed to load plugin");
  }

  /** Stops containerd (SIGTERM, then SIGKILL after 20 s) and waits for it to be gone. */
  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(20, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
