package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.e2e.Measure.Stats;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.sandbox.Hypervisors;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.sandbox.Timeline;
import dev.kataoperator.testsupport.Containerd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Benchmarks, printed and never asserted on timing (these machines are shared and noisy): each
 * result is min/median/max over several runs, next to a baseline measured in the same run. Run with
 * {@code make bench}; results go to build/bench/results.md for docs/benchmarks.md.
 */
@Tag("benchmark")
class BenchmarkTest {
  static final int RUNS = Integer.getInteger("bench.runs", 7);
  @TempDir static Path tmp;
  static Path rootfs;
  static final List<String> report = new ArrayList<>();
  static final List<String> phases = new ArrayList<>();

  @BeforeAll
  static void setUp() throws IOException {
    rootfs = Busybox.rootfs(tmp.resolve("busybox"));
  }

  @AfterAll
  static void write() throws IOException {
    Path out = Repo.root().resolve("build/bench/results.md");
    Files.createDirectories(out.getParent());
    report.addAll(phases);
    Files.write(out, report);
    report.forEach(System.out::println);
  }

  static Stats time(Callable<?> action) throws Exception {
    action.call(); // warm-up: page cache, JIT of the test itself
    var ms = new ArrayList<Double>();
    for (int i = 0; i < RUNS; i++) {
      long t0 = System.nanoTime();
      action.call();
      ms.add((System.nanoTime() - t0) / 1e6);
    }
    return Stats.of(ms);
  }

  static void row(String what, Stats kata, String baselineName, Stats baseline) {
    report.add(
        "| "
            + what
            + " | "
            + kata
            + " | "
            + (baseline == null ? "-" : baselineName + ": " + baseline)
            + " |");
  }

  /** A benchmark of a failing command measures nothing: every run must succeed. */
  static int ok(int exit) {
    assertEquals(0, exit, "benchmarked command failed");
    return exit;
  }

  static int ok(Containerd.Result r) {
    return ok(r.exit());
  }

  static int run(String... cmd) throws Exception {
    Process p =
        new ProcessBuilder(cmd)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    return p.waitFor();
  }

  @Test
  void guestBootAndRun() throws Exception {
    Path guest = Repo.guestDir();
    RuntimeConfig config = RuntimeConfig.load(guest.resolve("kata-qemu.toml"));
    int[] n = {0};
    var bootPhases = new ArrayList<java.util.Map<String, Long>>();
    Stats boot =
        time(
            () -> {
              String id = "bench-" + (n[0]++);
              var timeline = Timeline.sinceProcessStart();
              timeline.mark("boot-called");
              var sb =
                  Sandbox.boot(
                      new Sandbox.Spec(id, tmp.resolve(id), rootfs, false, 0, 0, id),
                      config,
                      Hypervisors.forConfig(config),
                      HostVirtualization.probe(),
                      timeline);
              sb.close();
              timeline.mark(Timeline.VM_STOPPED);
              long t0 = timeline.millis("boot-called");
              var at = new java.util.LinkedHashMap<String, Long>();
              for (String p :
                  List.of(
                      Timeline.QEMU,
                      Timeline.GUEST_KERNEL,
                      Timeline.GUEST_INIT,
                      Timeline.AGENT_LISTENING,
                      Timeline.AGENT_READY,
                      Timeline.SANDBOX,
                      Timeline.VM_STOPPED)) {
                at.put(p, timeline.millis(p) - t0);
              }
              bootPhases.add(at);
              return null;
            });
    phases.addAll(
        Measure.phaseTable(
            "Phases of a VM boot and teardown (Java API; ms since Sandbox.boot was called)",
            bootPhases.subList(1, bootPhases.size())));
    // Baseline: the same rootfs and command under runc directly on the host.
    Path bundle = tmp.resolve("runc-bundle");
    Files.createDirectories(bundle);
    assertEquals(
        0, new ProcessBuilder("runc", "spec").directory(bundle.toFile()).start().waitFor());
    String spec =
        Files.readString(bundle.resolve("config.json"))
            .replace("\"terminal\": true", "\"terminal\": false")
            .replace("\"sh\"", "\"true\"")
            .replace("\"path\": \"rootfs\"", "\"path\": \"" + rootfs + "\"");
    Files.writeString(bundle.resolve("config.json"), spec);
    int[] c = {0};
    Stats runc =
        time(() -> ok(run("runc", "run", "--bundle", bundle.toString(), "bench-runc-" + (c[0]++))));
    Stats kataRun =
        time(() -> ok(run(Repo.kataRun().toString(), "--rootfs", rootfs.toString(), "--", "true")));
    report.add("| measurement | kata (min / median / max) | baseline, same run |");
    report.add("|---|---|---|");
    row("VM boot to agent ready + teardown (Java API)", boot, "", null);
    row(
        "kata-run `true` (JVM start, boot, run, teardown)",
        kataRun,
        "runc run `true` on the host",
        runc);
    report.add(
        String.format(
            Locale.ROOT,
            "| guest sizes | vmlinux %.1f MB, rootfs.cpio.gz %.1f MB, kata-agent %.1f MB | |",
            Files.size(guest.resolve("vmlinux")) / 1e6,
            Files.size(guest.resolve("rootfs.cpio.gz")) / 1e6,
            Files.size(guest.resolve("kata-agent")) / 1e6));
  }

  @Test
  void ctrRunKataVersusRunc() throws Exception {
    Path images = Repo.root().resolve("build/images");
    assertEquals(
        0,
        run(
            "bash",
            Repo.root().resolve("e2e/images/build-busybox.sh").toString(),
            images.toString()));
    try (var containerd = Containerd.start(Containerd.Version.V2_2, tmp.resolve("ctd"), "")) {
      assertEquals(
          0, containerd.ctr("images", "import", images.resolve("busybox.tar").toString()).exit());
      int[] n = {0};
      Stats kata =
          time(
              () ->
                  ok(
                      containerd.ctr(
                          "run",
                          "--rm",
                          "--runtime",
                          Containerd.RUNTIME,
                          ContainerdShimTest.IMAGE,
                          "k" + (n[0]++),
                          "true")));
      Stats runc =
          time(
              () ->
                  ok(
                      containerd.ctr(
                          "run",
                          "--rm",
                          "--runtime",
                          "io.containerd.runc.v2",
                          ContainerdShimTest.IMAGE,
                          "r" + (n[0]++),
                          "true")));
      row("`ctr run --rm` of `true`, containerd 2.2", kata, "runc", runc);
      phases.addAll(
          Measure.phaseTable(
              "Phases of `ctr run --rm true` under kata (ms since the shim process started)",
              Measure.timelines(containerd.fullLog())));

      // Per-pod memory: 5 idle pods, PSS of each pod's shim JVM + QEMU (+ virtiofsd).
      for (int i = 0; i < 5; i++) {
        assertEquals(
            0,
            containerd
                .ctr(
                    "run",
                    "-d",
                    "--runtime",
                    Containerd.RUNTIME,
                    ContainerdShimTest.IMAGE,
                    "idle" + i,
                    "sleep",
                    "600")
                .exit());
      }
      Thread.sleep(2000);
      long pss = 0;
      for (String pid : Measure.pids("KataShim")) {
        pss += Measure.pssKb(pid);
      }
      for (String pid : Measure.pids("/run/kata/shim/")) {
        pss += Measure.pssKb(pid);
      }
      report.add(
          String.format(
              Locale.ROOT,
              "| memory per idle pod (PSS of shim + QEMU, 5 pods, 256 MiB guests) | %.0f MB | |",
              pss / 5 / 1024.0));
      for (int i = 0; i < 5; i++) {
        containerd.ctr("task", "kill", "-s", "KILL", "idle" + i);
      }
      Thread.sleep(3000);
      for (int i = 0; i < 5; i++) {
        containerd.ctr("task", "delete", "idle" + i);
        containerd.ctr("containers", "rm", "idle" + i);
      }
    }
  }
}
