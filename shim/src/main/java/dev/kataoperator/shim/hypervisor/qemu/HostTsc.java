package dev.kataoperator.shim.hypervisor.qemu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The host's TSC frequency, for guests under TCG.
 *
 * <p>Why: under TCG the guest's TSC is the host's (QEMU's rdtsc reads the host counter), but the
 * guest kernel cannot calibrate it (its PIT loop is too irregular under emulation, and the pc
 * machine without ACPI offers no HPET or PM timer). It then marks the TSC unstable and keeps time
 * with jiffies, which rules out tickless idle: an idle guest takes 250 timer interrupts a second,
 * ~6% of a host core per VM here. Told the frequency ({@code tsc_early_khz}), it uses the TSC and
 * an idle VM wakes ~25 times a second (~0.2% of a core; docs/benchmarks.md).
 *
 * <p>Where from: TCG is what runs on hosts without usable KVM, which are cloud VMs. A VM's kernel
 * gets its TSC frequency from its hypervisor ({@code tsc_known_freq}) and, having no frequency
 * driver, reports that same figure as "cpu MHz" (to the kHz). Only then is the figure trusted: a
 * host with a cpufreq driver or without a known, constant TSC gets nothing, and its guests keep
 * jiffies (slower when idle, but a wrong frequency would make their clocks run wrong).
 */
public final class HostTsc {
  private static final Pattern MHZ = Pattern.compile("(?m)^cpu MHz\\s*:\\s*(\\d+)\\.(\\d{3})\\s*$");
  private static final Pattern FLAGS = Pattern.compile("(?m)^flags\\s*:(.*)$");
  private static final Set<String> REQUIRED =
      Set.of("hypervisor", "tsc", "constant_tsc", "nonstop_tsc", "tsc_known_freq");

  private static volatile OptionalLong cached;

  private HostTsc() {}

  /** The host TSC frequency in kHz, read once per process. */
  public static OptionalLong khz() {
    OptionalLong k = cached;
    if (k == null) {
      k = probe(Path.of("/"));
      cached = k;
    }
    return k;
  }

  /** Reads {@code root}/proc/cpuinfo and {@code root}/sys/devices/system/cpu/cpufreq. */
  static OptionalLong probe(Path root) {
    try {
      if (Files.isDirectory(root.resolve("sys/devices/system/cpu/cpufreq/policy0"))) {
        return OptionalLong.empty(); // "cpu MHz" is the current core clock, not the TSC's
      }
      return fromCpuinfo(Files.readString(root.resolve("proc/cpuinfo")));
    } catch (IOException | RuntimeException e) {
      return OptionalLong.empty();
    }
  }

  static OptionalLong fromCpuinfo(String cpuinfo) {
    var flags = FLAGS.matcher(cpuinfo);
    if (!flags.find() || !Set.of(flags.group(1).trim().split("\\s+")).containsAll(REQUIRED)) {
      return OptionalLong.empty();
    }
    var m = MHZ.matcher(cpuinfo);
    if (!m.find()) {
      return OptionalLong.empty();
    }
    long khz = Long.parseLong(m.group(1)) * 1000 + Long.parseLong(m.group(2));
    // Every CPU reports the same figure (one TSC frequency); 100 MHz-20 GHz is a plausible TSC.
    while (m.find()) {
      if (Long.parseLong(m.group(1)) * 1000 + Long.parseLong(m.group(2)) != khz) {
        return OptionalLong.empty();
      }
    }
    return khz >= 100_000 && khz <= 20_000_000 ? OptionalLong.of(khz) : OptionalLong.empty();
  }
}
