package dev.kataoperator.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class PayloadLayoutTest {

  @Test
  void namesFollowContainerdsShimConvention() {
    // containerd turns runtime type io.containerd.<name>.v2 into binary containerd-shim-<name>-v2.
    assertEquals("io.containerd.kata-qemu.v2", PayloadLayout.runtimeType("kata-qemu"));
    assertEquals("containerd-shim-kata-qemu-v2", PayloadLayout.shimBinary("kata-qemu"));
    assertEquals(
        Path.of("/opt/kata/bin/containerd-shim-kata-qemu-v2"),
        PayloadLayout.shimPath(PayloadLayout.PREFIX, "kata-qemu"));
    assertEquals(
        Path.of("/opt/kata/current/share/defaults/kata-qemu.toml"), PayloadLayout.defaultConfig());
    assertEquals(Path.of("/x/versions/1.2.3"), PayloadLayout.versionDir(Path.of("/x"), "1.2.3"));
  }

  @Test
  void theInstallerFindsTheLauncherAndTemplateOfAHypervisor() {
    assertEquals("containerd-shim-kata-qemu-v2", PayloadLayout.launcher(Hypervisor.qemu));
    assertEquals("kata-qemu.toml", PayloadLayout.configTemplate(Hypervisor.qemu));
    assertEquals("previous", PayloadLayout.PREVIOUS_LINK);
    assertThrows(
        IllegalArgumentException.class, () -> PayloadLayout.launcher(Hypervisor.firecracker));
  }

  @Test
  void theFileIsLoadedInOrder() {
    var values = PayloadLayout.values();
    assertEquals("KATA_PREFIX", values.keySet().iterator().next());
    assertEquals(PayloadLayout.PREFIX.toString(), values.get("KATA_PREFIX"));
    assertEquals("/run/kata/shim", PayloadLayout.SHIM_RUN_ROOT.toString());
  }

  @Test
  void malformedLinesAreRefusedByName() {
    var e =
        assertThrows(
            IllegalStateException.class, () -> PayloadLayout.parse("KATA_A=1\nKATA_B = \"x\"\n"));
    assertTrue(e.getMessage().contains("KATA_B"), e.getMessage());
    assertThrows(IllegalStateException.class, () -> PayloadLayout.parse("KATA_A=1\nKATA_A=2\n"));
    assertEquals(1, PayloadLayout.parse("# c\n\nKATA_A=1\n").size());
  }
}
