package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kataoperator.e2e.Measure.Stats;
import dev.kataoperator.shim.sandbox.RunDirs;
import dev.kataoperator.testsupport.Containerd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How many idle pods a node holds (issue 15): N pods ({@code -Dbench.density.pods}, 10 by default)
 * of busybox {@code sleep} started all at once through containerd 2.2, beside one started alone and
 * the same N under runc. While they idle: the machine's CPU busy (against the same machine with no
 * pods, measured first), each pod's CPU and wake-ups, and its memory. Printed, written to
 * build/bench/density.md, never asserted on (these machines are shared); everything started is
 * removed.
 */
@Tag("benchmark")
class DensityBenchmarkTest {
  static final int PODS = Integer.getInteger("bench.density.pods", 10);
  static final int ALONE_RUNS = Integer.getInteger("bench.density.alone", 3);
  static final long IDLE_WINDOW_S = Long.getLong("bench.density.window", 30);
  static final long SETTLE_S = Long.getLong("bench.density.settle", 10);

  /** {@code -Dbench.density.templates=true}: the pods' VMs are restored from a VM template. */
  static final boolean TEMPLATES = Boolean.getBoolean("bench.density.templates");

  static final long TICKS_PER_S = 100; // USER_HZ, what /proc reports CPU time in

  @TempDir Path tmp;
  final List<String> report = new ArrayList<>();
  private Path kataConfig;

  @Test
  void idlePodsAndConcurrentStarts() throws Exception {
    Path images = Repo.root().resolve("build/images");
    assertEquals(
        0,
        new ProcessBuilder(
                "bash",
                Repo.root().resolve("e2e/images/build-busybox.sh").toString(),
                images.toString())
            .inheritIO()
            .start()
            .waitFor());
    kataConfig = benchConfig();
    try (var containerd = Containerd.start(Containerd.Version.V2_2, tmp.resolve("ctd"), "")) {
      assertEquals(
          0, containerd.ctr("images", "import", images.resolve("busybox.tar").toString()).exit());
      var started = new ArrayList<String>();
      try {
        double idleMachine = machineBusyPercent(IDLE_WINDOW_S);

        var alone = new ArrayList<Double>();
        var aloneCpu = new ArrayList<Double>();
        for (int i = 0; i < ALONE_RUNS; i++) {
          String id = "alone" + i;
          started.add(id);
          long busy0 = Measure.machineTicks()[0];
          alone.add(startTimed(containerd, Containerd.RUNTIME, id));
          aloneCpu.add((Measure.machineTicks()[0] - busy0) / (double) TICKS_PER_S);
          remove(containerd, List.of(id));
          started.remove(id);
        }

        List<Double> runc = startAllAtOnce(containerd, "io.containerd.runc.v2", "runc", started);
        remove(containerd, started);
        started.clear();

        String logBefore = containerd.fullLog();
        long concurrentBusy0 = Measure.machineTicks()[0];
        List<Double> kata = startAllAtOnce(containerd, Containerd.RUNTIME, "kata", started);
        double concurrentCpu =
            (Measure.machineTicks()[0] - concurrentBusy0) / (double) TICKS_PER_S / PODS;

        Thread.sleep(SETTLE_S * 1000); // let the guests settle after boot
        var pods = podProcesses(containerd, started);
        var cpu0 = sample(pods, Measure::cpuTicks);
        var switches0 = sample(pods, Measure::contextSwitches);
        double busy = machineBusyPercent(IDLE_WINDOW_S);
        var cpu1 = sample(pods, Measure::cpuTicks);
        var switches1 = sample(pods, Measure::contextSwitches);
        long[] cpu = {growth(cpu0, cpu1, p -> true), growth(cpu0, cpu1, p -> isQemu(p))};
        long switches = growth(switches0, switches1, p -> true);
        long pss = pods.stream().mapToLong(Measure::pssKb).sum();
        long qemuPss = pods.stream().filter(p -> isQemu(p)).mapToLong(Measure::pssKb).sum();

        int n = started.size();
        int cores = Runtime.getRuntime().availableProcessors();
        report.add(
            String.format(
                Locale.ROOT,
                "Density on %d cores: %d kata pods of busybox `sleep`, containerd 2.2, 256 MiB"
                    + " guests%s; idle window %d s, %d s after the last start",
                cores,
                n,
                TEMPLATES ? " restored from a VM template" : "",
                IDLE_WINDOW_S,
                SETTLE_S));
        report.add("");
        report.add("| measurement | kata | baseline, same run |");
        report.add("|---|---|---|");
        report.add(
            String.format(
                Locale.ROOT,
                "| machine CPU busy while the pods idle | %.1f%% of the machine | no pods: %.1f%% |",
                busy,
                idleMachine));
        report.add(
            String.format(
                Locale.ROOT,
                "| CPU per idle pod (QEMU + shim + helpers) | %.2f%% of a core (QEMU %.2f%%) | |",
                percentOfCore(cpu[0]) / n,
                percentOfCore(cpu[1]) / n));
        report.add(
            String.format(
                Locale.ROOT,
                "| wake-ups per idle pod (context switches of its threads) | %.0f /s | |",
                switches / (double) IDLE_WINDOW_S / n));
        report.add(
            String.format(
                Locale.ROOT,
                "| memory per idle pod (PSS) | %.0f MiB (QEMU %.0f MiB) | |",
                pss / 1024.0 / n,
                qemuPss / 1024.0 / n));
        report.add(
            "| start, one pod alone (`ctr run -d`, "
                + ALONE_RUNS
                + " runs) | "
                + Stats.of(alone)
                + " | |");
        report.add(
            "| start, "
                + n
                + " pods at once (each `ctr run -d`) | "
                + Stats.of(kata)
                + " | runc, "
                + n
                + " at once: "
                + Stats.of(runc)
                + " |");
        report.add(
            String.format(
                Locale.ROOT,
                "| concurrent start median / alone median | %.1fx | |",
                Stats.of(kata).median() / Stats.of(alone).median()));
        Stats aloneCpuStats = Stats.of(aloneCpu);
        // The floor for N starts on C cores is N x (CPU one start needs) / C: what is left above
        // it is waiting, not work.
        report.add(
            String.format(
                Locale.ROOT,
                "| machine CPU per start (all processes, while starting) | alone %.1f / %.1f /"
                    + " %.1f s; %d at once %.2f s each, so %d starts need >= %.1f s on %d cores |"
                    + " |",
                aloneCpuStats.min(),
                aloneCpuStats.median(),
                aloneCpuStats.max(),
                n,
                concurrentCpu,
                n,
                n * concurrentCpu / cores,
                cores));
        // Issue 15's targets beside what was measured. Starts that are CPU-bound cannot finish
        // before the CPU they need has been given: N x (CPU per start) / cores is the floor.
        double perPod = percentOfCore(cpu[0]) / n;
        double ratio = Stats.of(kata).median() / Stats.of(alone).median();
        double floor = n * concurrentCpu / cores * 1000 / Stats.of(alone).median();
        report.add("");
        report.add("Targets (issue 15):");
        report.add(
            String.format(
                Locale.ROOT,
                "- idle CPU per pod <= 0.3%% of a core: %.2f%%, %s",
                perPod,
                perPod <= 0.3 ? "met" : "not met"));
        report.add(
            String.format(
                Locale.ROOT,
                "- machine >= 98%% idle with the pods idling: %.1f%% idle (%.1f%% with no pods),"
                    + " %s",
                100 - busy,
                100 - idleMachine,
                100 - busy >= 98 ? "met" : "not met"));
        report.add(
            String.format(
                Locale.ROOT,
                "- %d concurrent starts, median <= 3x one alone: %.1fx, %s; the CPU they need puts"
                    + " the floor at %.1fx on %d cores (%.2f s of machine CPU per start)",
                n,
                ratio,
                ratio <= 3 ? "met" : "not met",
                floor,
                cores,
                concurrentCpu));

        remove(containerd, started);
        started.clear();
        String concurrentLog = containerd.fullLog().substring(logBefore.length());
        report.addAll(
            Measure.phaseTable(
                "Phases of the " + n + " pods started at once (ms since each shim process started)",
                Measure.timelines(concurrentLog)));
        report.addAll(
            Measure.phaseTable(
                "Phases of one pod started alone (ms since the shim process started)",
                Measure.timelines(logBefore)));
      } finally {
        remove(containerd, started);
      }
    }
    Path out = Repo.root().resolve("build/bench/density.md");
    Files.createDirectories(out.getParent());
    Files.write(out, report);
    report.forEach(System.out::println);
  }

  /** {@code ctr run -d} of an idle busybox; the time until the task runs. */
  double startTimed(Containerd containerd, String runtime, String id) throws Exception {
    var args = new ArrayList<>(List.of("run", "-d", "--runtime", runtime));
    if (runtime.equals(Containerd.RUNTIME)) {
      args.addAll(List.of("--runtime-config-path", kataConfig.toString()));
    }
    args.addAll(List.of(ContainerdShimTest.IMAGE, id, "sleep", "3600"));
    long t0 = System.nanoTime();
    // N starts at once share the cores: give each the time N of them take, not one's.
    var r = containerd.ctrWithin(Math.max(180, PODS * 10L), args.toArray(String[]::new));
    if (r.exit() != 0) {
      // What containerd said about this container, to find why it failed.
      String said =
          containerd
              .fullLog()
              .lines()
              .filter(l -> l.contains(id) && !l.contains("level=debug"))
              .limit(30)
              .collect(java.util.stream.Collectors.joining("\n"));
      throw new AssertionError(
          String.format(
              Locale.ROOT,
              "ctr run %s failed after %.1f s: %s%ncontainerd log:%n%s",
              id,
              (System.nanoTime() - t0) / 1e9,
              r,
              said));
    }
    return (System.nanoTime() - t0) / 1e6;
  }

  /**
   * The dev guest config with boot and create timeouts that fit N starts at once: under TCG they
   * share the cores, so 50 on 2 cores take minutes (the dev config's 30 s boot and 60 s create
   * failed them).
   */
  static Path benchConfig() throws Exception {
    Path dev = Repo.guestDir().resolve("kata-qemu.toml");
    Path bench = Repo.guestDir().resolve("kata-qemu-bench.toml");
    long boot = Math.max(30, PODS * 5L);
    long create = Math.max(60, PODS * 5L);
    String text =
        Files.readString(dev)
            .replaceAll("(?m)^boot_timeout = .*$", "boot_timeout = " + boot)
            .replaceAll(
                "(?m)^create_container_timeout = .*$", "create_container_timeout = " + create);
    if (TEMPLATES) {
      // A fresh template for the run: its first pod builds it (in the "alone" runs).
      Path templates = Repo.root().resolve("build/bench/templates");
      RunDirs.deleteQuietly(templates);
      text += "\n[factory]\nenable_template = true\ntemplate_path = \"" + templates + "\"\n";
    }
    Files.writeString(bench, text);
    return bench;
  }

  /** Starts {@link #PODS} containers at the same moment; each one's start time. */
  List<Double> startAllAtOnce(
      Containerd containerd, String runtime, String prefix, List<String> started) throws Exception {
    var times = Collections.synchronizedList(new ArrayList<Double>());
    var go = new CountDownLatch(1);
    try (var pool = Executors.newFixedThreadPool(PODS)) {
      var futures = new ArrayList<Future<?>>();
      for (int i = 0; i < PODS; i++) {
        String id = prefix + i;
        started.add(id);
        futures.add(
            pool.submit(
                () -> {
                  go.await();
                  times.add(startTimed(containerd, runtime, id));
                  return null;
                }));
      }
      go.countDown();
      for (var f : futures) {
        f.get(10, TimeUnit.MINUTES); // a failed start fails the benchmark, with its output
      }
    }
    return times;
  }

  /** Kills and deletes containers; the shims and VMs go with them. */
  static void remove(Containerd containerd, List<String> ids) throws Exception {
    for (String id : ids) {
      containerd.ctr("task", "kill", "-s", "KILL", id);
    }
    for (String id : ids) {
      for (int i = 0; i < 60; i++) {
        if (containerd.ctr("task", "delete", id).exit() == 0
            || containerd.ctr("task", "ls", "-q").out().lines().noneMatch(id::equals)) {
          break;
        }
        Thread.sleep(500);
      }
      containerd.ctr("containers", "rm", id);
    }
  }

  /**
   * The host processes of the pods this benchmark started, and no one else's (the machine may be
   * shared): the shim JVMs of its containerd (their {@code -address}), the QEMUs and helpers in
   * those pods' run directories.
   */
  static List<String> podProcesses(Containerd containerd, List<String> ids) throws Exception {
    var pids = new ArrayList<String>();
    for (String p : Measure.pids("-address " + containerd.socket() + " ")) {
      if (Files.readString(Path.of("/proc", p, "cmdline")).contains("KataShim")) {
        pids.add(p);
      }
    }
    for (String id : ids) {
      pids.addAll(Measure.pids("/run/kata/shim/default/" + id + "/"));
    }
    return pids;
  }

  /** {@code measure} of each process. */
  static java.util.Map<String, Long> sample(
      List<String> pids, java.util.function.ToLongFunction<String> measure) {
    var values = new java.util.HashMap<String, Long>();
    for (String p : pids) {
      values.put(p, measure.applyAsLong(p));
    }
    return values;
  }

  /**
   * How much the counters of the processes that {@code which} selects grew between two samples; a
   * process gone by the second (its counter reads 0) is left out rather than subtracted.
   */
  static long growth(
      java.util.Map<String, Long> before,
      java.util.Map<String, Long> after,
      java.util.function.Predicate<String> which) {
    long sum = 0;
    for (var e : before.entrySet()) {
      long end = after.getOrDefault(e.getKey(), 0L);
      if (end >= e.getValue() && which.test(e.getKey())) {
        sum += end - e.getValue();
      }
    }
    return sum;
  }

  static boolean isQemu(String pid) {
    try {
      return Files.readString(Path.of("/proc", pid, "cmdline")).contains("qemu-system");
    } catch (Exception e) {
      return false;
    }
  }

  double percentOfCore(long ticks) {
    return 100.0 * ticks / TICKS_PER_S / IDLE_WINDOW_S;
  }

  static double machineBusyPercent(long seconds) throws Exception {
    long[] a = Measure.machineTicks();
    Thread.sleep(seconds * 1000);
    long[] b = Measure.machineTicks();
    return 100.0 * (b[0] - a[0]) / (b[1] - a[1]);
  }
}
