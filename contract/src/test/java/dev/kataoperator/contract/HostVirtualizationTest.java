package dev.kataoperator.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
class HostVirtualizationTest {
  @TempDir Path root;

  private HostVirtualization host(String flags, boolean devKvm, String... modules)
      throws IOException {
    Files.createDirectories(root.resolve("proc"));
    Files.writeString(
        root.resolve("proc/cpuinfo"), "processor\t: 0\nflags\t\t: fpu " + flags + " sse\n\n");
    Files.createDirectories(root.resolve("dev"));
    if (devKvm) {
      Files.createFile(root.resolve("dev/kvm"));
    }
    for (String m : modules) {
      Files.createDirectories(root.resolve("sys/module").resolve(m));
    }
    return HostVirtualization.probe(root);
  }

  @Test
  void bareMetalWithVmxIsHardware() throws IOException {
    var h = host("vmx", true, "kvm", "kvm_intel");
    assertEquals(Virtualization.hardware, h.kind());
    assertTrue(h.kvmUsable());
  }

  @Test
  void svmUnderAHypervisorIsNested() throws IOException {
    assertEquals(Virtualization.nested, host("svm hypervisor", true, "kvm", "kvm_amd").kind());
  }

  @Test
  void kvmPvmIsDetectedAndNotUsable() throws IOException {
    var h = host("hypervisor", true, "kvm", "kvm_pvm");
    assertEquals(Virtualization.pvm, h.kind());
    assertFalse(h.kvmUsable());
    assertTrue(h.reason().contains("kvm_pvm"), h.reason());
  }

  @Test
  void noDevKvmIsNone() throws IOException {
    assertEquals(Virtualization.none, host("vmx", false).kind());
  }

  @Test
  void devKvmWithoutVendorModuleIsNone() throws IOException {
    assertEquals(Virtualization.none, host("hypervisor", true, "kvm").kind());
  }

  @Test
  void thisMachineIsProbedWithoutError() {
    // Whatever this host is, the probe must decide and give a reason.
    var h = HostVirtualization.probe();
    assertFalse(h.reason().isBlank());
  }
}
