package dev.kataoperator.shim.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.hypervisor.Accelerator;
import dev.kataoperator.shim.hypervisor.VmConfig.ShareKind;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class RuntimeConfigTest {
  private static final Path FILE = Path.of("/opt/kata/share/defaults/kata-qemu.toml");
  private static final String MINIMAL =
      """
      [hypervisor]
      path = "../../qemu/bin/qemu-system-x86_64"
      kernel = "../kata/vmlinux"
      initrd = "/abs/rootfs.cpio.gz"
      """;

  private static String error(String toml) {
    return assertThrows(ConfigException.class, () -> RuntimeConfig.parse(FILE, toml)).getMessage();
  }

  @Test
  void defaultsAndRelativePaths() {
    var c = RuntimeConfig.parse(FILE, MINIMAL);
    assertEquals(Path.of("/opt/kata/qemu/bin/qemu-system-x86_64"), c.qemuPath());
    assertEquals(Path.of("/opt/kata/share/kata/vmlinux"), c.kernel());
    assertEquals(Path.of("/abs/rootfs.cpio.gz"), c.initrd());
    assertEquals(256, c.defaultMemoryMiB());
    assertEquals(1, c.defaultVcpus());
    assertEquals(ShareKind.VIRTIO_9P, c.sharedFs());
    assertEquals(Accelerator.Mode.AUTO, c.accel());
    assertEquals(Duration.ofSeconds(30), c.agentBootTimeout());
    assertEquals(Duration.ofSeconds(60), c.agentCallTimeout());
    assertEquals(Duration.ofSeconds(20), c.agentShutdownTimeout());
    assertEquals(Duration.ofSeconds(60), c.createContainerTimeout());
    assertEquals(Optional.empty(), c.virtiofsd());
    assertEquals(Optional.empty(), c.templates(), "VM templates are opt-in");
  }

  @Test
  void everyKeyIsRead() {
    var c =
        RuntimeConfig.parse(
            FILE,
            MINIMAL
                + """
                default_memory = 512
                default_vcpus = 2
                shared_fs = "virtio-fs"
                virtiofsd = "../../libexec/virtiofsd"
                accel = "tcg"
                kernel_params = ["agent.log=debug"]
                [agent]
                boot_timeout = 90
                call_timeout = 7
                shutdown_timeout = 3
                [runtime]
                debug = true
                create_container_timeout = 300
                [factory]
                enable_template = true
                template_path = "../templates"
                """);
    assertEquals(512, c.defaultMemoryMiB());
    assertEquals(2, c.defaultVcpus());
    assertEquals(ShareKind.VIRTIO_FS, c.sharedFs());
    assertEquals(Optional.of(Path.of("/opt/kata/libexec/virtiofsd")), c.virtiofsd());
    assertEquals(Accelerator.Mode.TCG, c.accel());
    assertEquals(List.of("agent.log=debug"), c.kernelParams());
    assertEquals(Duration.ofSeconds(90), c.agentBootTimeout());
    assertEquals(Duration.ofSeconds(7), c.agentCallTimeout());
    assertEquals(Duration.ofSeconds(3), c.agentShutdownTimeout());
    assertTrue(c.debug());
    assertEquals(Duration.ofSeconds(300), c.createContainerTimeout());
    assertEquals(Optional.of(Path.of("/opt/kata/share/templates")), c.templates());
  }

  /**
   * The shipped configs boot the VM the RuntimeClass overhead is sized for (the contract's
   * PodOverhead): a larger base memory would outgrow the pod's cgroup.
   */
  @Test
  void theShippedConfigsBootTheVmTheRuntimeClassOverheadHolds() {
    for (Path shipped :
        List.of(Path.of("payload/kata-qemu.toml"), Path.of("config/kata-qemu-dev.toml"))) {
      assertEquals(
          dev.kataoperator.contract.PodOverhead.GUEST_BASE_MIB,
          RuntimeConfig.load(shipped).defaultMemoryMiB(),
          shipped.toString());
    }
  }

  @Test
  void unknownKeyIsAnErrorNamingIt() {
    assertTrue(
        error(MINIMAL + "default_memroy = 512\n")
            .contains("unknown key hypervisor.default_memroy"));
    assertTrue(error(MINIMAL + "[agnet]\n").contains("unknown key agnet"));
  }

  @Test
  void badValuesAreErrorsNotDefaults() {
    assertTrue(error(MINIMAL + "default_memory = 16\n").contains("default_memory must be in 64.."));
    assertTrue(error(MINIMAL + "default_vcpus = \"2\"\n").contains("must be an integer"));
    assertTrue(
        error(MINIMAL + "accel = \"hvf\"\n").contains("accel must be one of auto, kvm, tcg"));
    assertTrue(error(MINIMAL + "shared_fs = \"nfs\"\n").contains("virtio-9p or virtio-fs"));
    assertTrue(error(MINIMAL + "shared_fs = \"virtio-fs\"\n").contains("needs virtiofsd"));
    assertTrue(error(MINIMAL + "kernel_params = [\"a b\"]\n").contains("single words"));
    assertTrue(error("[hypervisor]\npath = \"/q\"\n").contains("missing hypervisor.kernel"));
    assertTrue(error("[hypervisor\n").contains("not valid TOML"));
    assertTrue(error("").contains("missing section [hypervisor]"));
  }

  @Test
  void missingFileNamesIt() {
    var e =
        assertThrows(
            ConfigException.class, () -> RuntimeConfig.load(Path.of("/nonexistent/kata.toml")));
    assertTrue(e.getMessage().contains("/nonexistent/kata.toml"), e.getMessage());
  }
}
