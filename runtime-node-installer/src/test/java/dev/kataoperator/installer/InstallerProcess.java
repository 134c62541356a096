package dev.kataoperator.installer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The installer as the DaemonSet runs it: its own JVM, configured only by its environment, stopped
 * with SIGTERM. Its log (stderr and stdout) goes to a file the test can show.
 */
final class InstallerProcess implements AutoCloseable {
  private final Process process;
  private final Path log;

  private InstallerProcess(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  static InstallerProcess start(String mode, Map<String, String> env, Path log) throws IOException {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                // kata.installer.java: another JRE to run it on (e.g. one jlink'd like the image's)
                System.getProperty(
                    "kata.installer.java",
                    Path.of(System.getProperty("java.home"), "bin", "java").toString()),
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow",
                "-cp",
                System.getProperty("java.class.path"),
                Main.class.getName(),
                mode));
    var pb =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().keySet().removeIf(k -> k.startsWith("KATA_") || k.equals("KUBECONFIG"));
    pb.environment().putAll(env);
    Process p = pb.start();
    p.getOutputStream().close();
    return new InstallerProcess(p, log);
  }

  /** Waits until {@code ready} exists (true), or the installer exits first (false). */
  boolean awaitReady(Path ready, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        return false;
      }
      if (Files.exists(ready)) {
        return true;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("installer neither ready nor gone after " + timeout + ":\n" + log());
  }

  int awaitExit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("installer still running after " + timeout + ":\n" + log());
    }
    return process.exitValue();
  }

  /** SIGTERM, as the kubelet stops a pod; returns the exit status. */
  int stop() throws InterruptedException {
    process.destroy();
    return awaitExit(Duration.ofSeconds(130));
  }

  boolean alive() {
    return process.isAlive();
  }

  String log() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroyForcibly();
      try {
        process.waitFor(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
