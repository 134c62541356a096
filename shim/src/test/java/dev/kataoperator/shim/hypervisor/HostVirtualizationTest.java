package dev.kataoperator.shim.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.hypervisor.HostVirtualization.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
    assertEquals(Kind.HARDWARE, h.kind());
    assertTrue(h.kvmUsable());
  }

  @Test
  void svmUnderAHypervisorIsNested() throws IOException {
    assertEquals(Kind.NESTED, host("svm hypervisor", true, "kvm", "kvm_amd").kind());
  }

  @Test
  void kvmPvmIsDetectedAndNotUsable() throws IOException {
    var h = host("hypervisor", true, "kvm", "kvm_pvm");
    assertEquals(Kind.PVM, h.kind());
    assertFalse(h.kvmUsable());
    assertTrue(h.reason().contains("kvm_pvm"), h.reason());
  }

  @Test
  void noDevKvmIsNone() throws IOException {
    assertEquals(Kind.NONE, host("vmx", false).kind());
  }

  @Test
  void devKvmWithoutVendorModuleIsNone() throws IOException {
    assertEquals(Kind.NONE, host("hypervisor", true, "kvm").kind());
  }

  @Test
  void autoNeverPicksTcgWhereKvmWorks() throws IOException {
    var choice = Accelerator.choose(Accelerator.Mode.AUTO, host("vmx", true, "kvm_intel"));
    assertEquals(Accelerator.KVM, choice.accelerator());
  }

  @Test
  void autoFallsBackToTcgOnPvmAndSaysWhy() throws IOException {
    var choice = Accelerator.choose(Accelerator.Mode.AUTO, host("", true, "kvm_pvm"));
    assertEquals(Accelerator.TCG, choice.accelerator());
    assertTrue(choice.reason().contains("kvm_pvm"), choice.reason());
  }

  @Test
  void forcedKvmOnPvmIsAClearError() throws IOException {
    var h = host("", true, "kvm_pvm");
    var e =
        assertThrows(HypervisorException.class, () -> Accelerator.choose(Accelerator.Mode.KVM, h));
    assertTrue(e.getMessage().contains("accel = \"tcg\""), e.getMessage());
  }

  @Test
  void thisMachineIsProbedWithoutError() {
    // Whatever this host is, the probe must decide and give a reason.
    var h = HostVirtualization.probe();
    assertFalse(h.reason().isBlank());
  }
}
