package dev.kataoperator.e2e;

import dev.kataoperator.shim.sandbox.Timeline;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** What the benchmarks measure with: statistics, and CPU, wake-ups and memory from /proc. */
final class Measure {
  private Measure() {}

  /** min / median / max of a sample (the median of an even count is its upper middle). */
  record Stats(double min, double median, double max) {
    static Stats of(List<Double> values) {
      var s = values.stream().sorted().toList();
      return new Stats(s.getFirst(), s.get(s.size() / 2), s.getLast());
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "%.0f / %.0f / %.0f ms", min, median, max);
    }
  }

  /** Processes whose command line contains {@code marker} (not the setpriv that started them). */
  static List<String> pids(String marker) throws IOException {
    var found = new ArrayList<String>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        try {
          String cmd = Files.readString(p.resolve("cmdline")).replace('\0', ' ');
          if (cmd.contains(marker) && !cmd.startsWith("setpriv")) {
            found.add(p.getFileName().toString());
          }
        } catch (IOException e) {
          // exited
        }
      }
    }
    return found;
  }

  /** Proportional set size of a process in KiB; 0 once it is gone. */
  static long pssKb(String pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", pid, "smaps_rollup"))) {
        if (line.startsWith("Pss:")) {
          return Long.parseLong(line.replaceAll("\\D", ""));
        }
      }
    } catch (IOException e) {
      // exited
    }
    return 0;
  }

  /** CPU time (user + system) of a process and its threads, in clock ticks; 0 once it is gone. */
  static long cpuTicks(String pid) {
    try {
      String stat = Files.readString(Path.of("/proc", pid, "stat"));
      // Fields after the command (which may hold spaces) in parentheses; utime, stime are 14, 15.
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }

  /**
   * Times the process's threads were switched out, voluntarily or not: each is the end of a
   * wake-up, so the rate of this count while idle is the rate the process wakes up.
   */
  static long contextSwitches(String pid) {
    long n = 0;
    try (Stream<Path> tasks = Files.list(Path.of("/proc", pid, "task"))) {
      for (Path t : tasks.toList()) {
        try {
          for (String line : Files.readAllLines(t.resolve("status"))) {
            if (line.startsWith("voluntary_ctxt_switches:")
                || line.startsWith("nonvoluntary_ctxt_switches:")) {
              n += Long.parseLong(line.replaceAll("\\D", ""));
            }
          }
        } catch (IOException e) {
          // thread exited
        }
      }
    } catch (IOException e) {
      return 0;
    }
    return n;
  }

  /** The machine's CPU time so far: {busy, total} in clock ticks over all CPUs (/proc/stat). */
  static long[] machineTicks() throws IOException {
    String[] f = Files.readAllLines(Path.of("/proc/stat")).getFirst().trim().split("\\s+");
    long total = 0;
    for (int i = 1; i < f.length && i <= 8; i++) { // user..steal; guest time is inside user
      total += Long.parseLong(f[i]);
    }
    long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]); // idle + iowait
    return new long[] {total - idle, total};
  }

  private static final Pattern TIMELINE =
      Pattern.compile(
          Pattern.quote(Timeline.LOG_PREFIX) + "\\(ms since the shim started\\) ([^\"]*)");

  /**
   * The shims' timeline lines in a containerd log, one map per pod: phase -> ms since that shim
   * started. A container's phase ({@code created[id]}) is keyed by the phase alone (the first
   * container's), which is what a one-container pod has.
   */
  static List<Map<String, Long>> timelines(String containerdLog) {
    var all = new ArrayList<Map<String, Long>>();
    var m = TIMELINE.matcher(containerdLog);
    while (m.find()) {
      var phases = new LinkedHashMap<String, Long>();
      for (String kv : m.group(1).trim().split(" ")) {
        int eq = kv.lastIndexOf('=');
        if (eq > 0) {
          String phase = kv.substring(0, eq).replaceAll("\\[.*]$", "");
          phases.putIfAbsent(phase, Long.parseLong(kv.substring(eq + 1)));
        }
      }
      all.add(phases);
    }
    return all;
  }

  /**
   * A markdown table of the median time of each phase over the pods (ms since the shim process
   * started) and the median step from the phase before it: where a pod's start goes.
   */
  static List<String> phaseTable(String title, List<? extends Map<String, Long>> pods) {
    var order = new ArrayList<String>();
    for (var pod : pods) {
      for (String phase : pod.keySet()) {
        if (!order.contains(phase)) {
          order.add(phase);
        }
      }
    }
    var medians = new LinkedHashMap<String, Long>();
    for (String phase : order) {
      var values =
          pods.stream().filter(p -> p.containsKey(phase)).map(p -> p.get(phase)).sorted().toList();
      medians.put(phase, values.get(values.size() / 2));
    }
    order.sort((a, b) -> Long.compare(medians.get(a), medians.get(b)));
    var rows = new ArrayList<String>();
    rows.add("");
    rows.add(title + " (median over " + pods.size() + ")");
    rows.add("");
    rows.add("| phase | at | step |");
    rows.add("|---|---|---|");
    long before = 0;
    for (String phase : order) {
      long at = medians.get(phase);
      rows.add("| " + phase + " | " + at + " | +" + (at - before) + " |");
      before = at;
    }
    return rows;
  }
}
