package dev.kataoperator.shim.hypervisor.qemu;

import dev.kataoperator.shim.hypervisor.HypervisorException;
import dev.kataoperator.shim.hypervisor.Spawner;
import dev.kataoperator.shim.hypervisor.Vm;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** A running QEMU process, its QMP connection and its helper processes. */
final class QemuVm implements Vm {
  private static final System.Logger LOG = System.getLogger(QemuVm.class.getName());

  private final Process qemu;
  private final List<Process> helpers;
  private final Path runDir;
  private final Qmp qmp;
  private final GuestConsole console;
  private final CompletableFuture<Integer> exited;
  private volatile boolean restored;

  private QemuVm(Process qemu, List<Process> helpers, Path runDir, Qmp qmp, GuestConsole console) {
    this.qemu = qemu;
    this.helpers = helpers;
    this.runDir = runDir;
    this.qmp = qmp;
    this.console = console;
    this.exited = qemu.onExit().thenApply(Process::exitValue);
    // Helpers (virtiofsd) are useless without QEMU; never let one outlive it.
    exited.whenComplete((code, e) -> helpers.forEach(Process::destroy));
  }

  /**
   * Starts QEMU and connects to QMP. QEMU's own messages go to qemu.log in the run directory and
   * its last line becomes the error when it fails to start.
   */
  static QemuVm start(
      List<String> command,
      Path runDir,
      List<Process> helpers,
      GuestConsole console,
      Duration timeout)
      throws IOException {
    Path log = runDir.resolve("qemu.log");
    // No VM outlives its shim, however the shim dies.
    List<String> cmd = Spawner.tiedToThisJvm(command);
    Files.writeString(runDir.resolve("qemu.cmdline"), String.join(" ", cmd) + "\n");
    Process qemu =
        Spawner.start(
            new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile()));
    Path qmpSocket = runDir.resolve("qmp.sock");
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      while (true) {
        if (!qemu.isAlive()) {
          throw new HypervisorException("QEMU exited at start: " + lastLine(log));
        }
        if (Files.exists(qmpSocket)) {
          try {
            Duration left = Duration.ofNanos(Math.max(deadline - System.nanoTime(), 0));
            Duration wait = left.compareTo(Qmp.TIMEOUT) < 0 ? left : Qmp.TIMEOUT;
            return new QemuVm(qemu, helpers, runDir, Qmp.connect(qmpSocket, wait), console);
          } catch (IOException e) {
            // The socket file can appear a moment before QEMU listens on it.
          }
        }
        if (System.nanoTime() > deadline) {
          throw new HypervisorException(
              "QEMU did not open its control socket within " + timeout.toSeconds() + " s");
        }
        Thread.sleep(5);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      qemu.destroyForcibly();
      throw new HypervisorException("interrupted while starting QEMU", e);
    } catch (RuntimeException e) {
      qemu.destroyForcibly();
      awaitQuietly(qemu, Duration.ofSeconds(2));
      throw e;
    }
  }

  private static String lastLine(Path log) {
    try {
      var lines = Files.readAllLines(log);
      return lines.isEmpty() ? "(no output)" : lines.getLast().strip();
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  /** Saving or loading a template's few hundred KiB of device state: generous under load. */
  private static final Duration MIGRATION_TIMEOUT = Duration.ofSeconds(60);

  /**
   * Pauses the guest and saves its device state to {@code state}. Its RAM is not written: with
   * {@code x-ignore-shared} QEMU leaves the shared memory file, which already holds it, alone.
   */
  void saveTo(Path state) throws IOException {
    qmp.execute("stop", Map.of());
    ignoreSharedMemory();
    qmp.execute("migrate", Map.of("uri", "file:" + state));
    awaitStatus(
        "query-migrate",
        r -> r.path("status").asText(),
        s -> s.equals("completed") || s.equals("failed") || s.equals("cancelled"),
        "completed");
  }

  /**
   * Loads the device state {@link #saveTo} saved (the RAM is the template's file, mapped private)
   * and runs the guest.
   */
  void restoreFrom(Path state) throws IOException {
    ignoreSharedMemory();
    qmp.execute("migrate-incoming", Map.of("uri", "file:" + state));
    awaitStatus(
        "query-status", r -> r.path("status").asText(), s -> !s.equals("inmigrate"), "paused");
    qmp.execute("cont", Map.of());
    restored = true;
  }

  private void ignoreSharedMemory() throws IOException {
    qmp.execute(
        "migrate-set-capabilities",
        Map.of("capabilities", List.of(Map.of("capability", "x-ignore-shared", "state", true))));
  }

  private void awaitStatus(
      String query,
      java.util.function.Function<com.fasterxml.jackson.databind.JsonNode, String> status,
      java.util.function.Predicate<String> done,
      String wanted)
      throws IOException {
    long deadline = System.nanoTime() + MIGRATION_TIMEOUT.toNanos();
    while (true) {
      String s = status.apply(qmp.execute(query, Map.of()));
      if (done.test(s)) {
        if (!s.equals(wanted)) {
          throw new HypervisorException(query + " ended " + s + ", not " + wanted);
        }
        return;
      }
      if (!qemu.isAlive() || System.nanoTime() > deadline) {
        throw new HypervisorException(
            query + " still " + s + " after " + MIGRATION_TIMEOUT.toSeconds() + " s");
      }
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new HypervisorException("interrupted waiting for " + query, e);
      }
    }
  }

  @Override
  public boolean restoredFromTemplate() {
    return restored;
  }

  @Override
  public Path agentSocket() {
    return runDir.resolve("agent.sock");
  }

  @Override
  public List<Long> pids() {
    var pids = new ArrayList<Long>();
    pids.add(qemu.pid());
    helpers.forEach(h -> pids.add(h.pid()));
    return pids;
  }

  @Override
  public CompletableFuture<Integer> exited() {
    return exited;
  }

  @Override
  public String consoleTail(int lines) {
    return console.tail(lines);
  }

  @Override
  public void stop(Duration grace) {
    try {
      if (!grace.isZero() && awaitQuietly(qemu, grace)) {
        return;
      }
      if (qemu.isAlive()) {
        try {
          qmp.execute("quit", Map.of());
        } catch (IOException | HypervisorException e) {
          // QEMU closing the socket as it quits is the normal answer.
        }
        if (!awaitQuietly(qemu, Duration.ofSeconds(2))) {
          LOG.log(Level.WARNING, "QEMU did not quit through QMP; killing it");
          qemu.destroyForcibly();
          awaitQuietly(qemu, Duration.ofSeconds(5));
        }
      }
    } finally {
      console.close();
      try {
        qmp.close();
      } catch (IOException e) {
        // nothing left to do with a dead QMP connection
      }
      for (Process h : helpers) {
        h.destroy();
        if (!awaitQuietly(h, Duration.ofSeconds(2))) {
          h.destroyForcibly();
          awaitQuietly(h, Duration.ofSeconds(2));
        }
      }
    }
  }

  private static boolean awaitQuietly(Process p, Duration d) {
    try {
      return p.waitFor(d.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return !p.isAlive();
    }
  }
}
