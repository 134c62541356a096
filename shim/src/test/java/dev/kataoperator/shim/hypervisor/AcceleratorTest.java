package dev.kataoperator.shim.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.Virtualization;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class AcceleratorTest {
  private static final HostVirtualization HARDWARE =
      new HostVirtualization(Virtualization.hardware, "vmx/svm with kvm_intel/kvm_amd");
  private static final HostVirtualization PVM =
      new HostVirtualization(Virtualization.pvm, "/dev/kvm is provided by kvm_pvm");

  @Test
  void autoNeverPicksTcgWhereKvmWorks() {
    var choice = Accelerator.choose(Accelerator.Mode.AUTO, HARDWARE);
    assertEquals(Accelerator.KVM, choice.accelerator());
  }

  @Test
  void autoFallsBackToTcgOnPvmAndSaysWhy() {
    var choice = Accelerator.choose(Accelerator.Mode.AUTO, PVM);
    assertEquals(Accelerator.TCG, choice.accelerator());
    assertTrue(choice.reason().contains("kvm_pvm"), choice.reason());
  }

  @Test
  void forcedKvmOnPvmIsAClearError() {
    var e =
        assertThrows(
            HypervisorException.class, () -> Accelerator.choose(Accelerator.Mode.KVM, PVM));
    assertTrue(e.getMessage().contains("accel = \"tcg\""), e.getMessage());
  }
}
