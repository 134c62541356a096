package dev.kataoperator.shim.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
class HostTscTest {
  static final String VM_FLAGS =
      "flags\t\t: fpu tsc msr constant_tsc nonstop_tsc tsc_known_freq hypervisor svm\n";

  static String cpuinfo(String flags, String... mhz) {
    var s = new StringBuilder();
    for (String m : mhz) {
      s.append("processor\t: 0\ncpu MHz\t\t: ").append(m).append('\n').append(flags).append('\n');
    }
    return s.toString();
  }

  @Test
  void aCloudVmReportsItsTscFrequencyToTheKhz() {
    assertEquals(
        OptionalLong.of(2_445_404), HostTsc.fromCpuinfo(cpuinfo(VM_FLAGS, "2445.404", "2445.404")));
  }

  @Test
  void anythingElseIsNotTrusted() {
    String noKnownFreq = VM_FLAGS.replace(" tsc_known_freq", "");
    assertEquals(OptionalLong.empty(), HostTsc.fromCpuinfo(cpuinfo(noKnownFreq, "2445.404")));
    String bareMetal = VM_FLAGS.replace(" hypervisor", "");
    assertEquals(OptionalLong.empty(), HostTsc.fromCpuinfo(cpuinfo(bareMetal, "2445.404")));
    // CPUs at different clocks: a frequency driver is at work, not the TSC's figure.
    assertEquals(
        OptionalLong.empty(), HostTsc.fromCpuinfo(cpuinfo(VM_FLAGS, "2445.404", "1800.000")));
    assertEquals(OptionalLong.empty(), HostTsc.fromCpuinfo(cpuinfo(VM_FLAGS, "12.000")));
    assertEquals(OptionalLong.empty(), HostTsc.fromCpuinfo("garbage"));
  }

  @Test
  void aHostWithAFrequencyDriverGetsNothing(@TempDir Path root) throws Exception {
    Files.createDirectories(root.resolve("proc"));
    Files.writeString(root.resolve("proc/cpuinfo"), cpuinfo(VM_FLAGS, "2445.404"));
    assertEquals(OptionalLong.of(2_445_404), HostTsc.probe(root));
    Files.createDirectories(root.resolve("sys/devices/system/cpu/cpufreq/policy0"));
    assertEquals(OptionalLong.empty(), HostTsc.probe(root));
  }
}
