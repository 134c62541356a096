package dev.kataoperator.shim.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class QemuArgsTest {
  @Test
  void ninePShareBecomesFsdevAndDevice() {
    var args = new QemuArgs.NinePShare("kataShared", Path.of("/srv/rootfs"), true).args();
    assertEquals(
        List.of(
            "-fsdev",
            "local,id=fs-kataShared,path=/srv/rootfs,security_model=none,readonly=on",
            "-device",
            "virtio-9p-pci,fsdev=fs-kataShared,mount_tag=kataShared"),
        args);
  }

  @Test
  void aCommaInAPathCannotInjectOptions() {
    var share = new QemuArgs.NinePShare("t", Path.of("/tmp/x,security_model=passthrough"), false);
    var e = assertThrows(IllegalArgumentException.class, share::args);
    assertTrue(e.getMessage().contains("unsafe character"), e.getMessage());
  }

  @Test
  void sharedMemoryBackendOnlyWhenAsked() {
    assertEquals(List.of("-m", "256M"), new QemuArgs.Memory(256, false).args());
    var shared = new QemuArgs.Memory(512, true).args();
    assertTrue(
        shared.contains("memory-backend-memfd,id=mem,size=512M,share=on"), shared.toString());
    assertTrue(shared.contains("node,memdev=mem"), shared.toString());
  }

  @Test
  void kernelCommandLineIsOneArgument() {
    var args =
        new QemuArgs.Kernel(Path.of("/k"), Path.of("/i"), "console=ttyS0 panic=-1 a,b").args();
    assertEquals(
        List.of("-kernel", "/k", "-initrd", "/i", "-append", "console=ttyS0 panic=-1 a,b"), args);
  }

  @Test
  void commandLineKeepsGroupOrder() {
    var cmd =
        QemuArgs.commandLine(
            Path.of("/usr/bin/qemu-system-x86_64"),
            List.of(new QemuArgs.Machine("pc"), QemuArgs.Accel.kvm(), new QemuArgs.Smp(2)));
    assertEquals(
        List.of(
            "/usr/bin/qemu-system-x86_64",
            "-machine",
            "pc,graphics=off",
            "-accel",
            "kvm",
            "-smp",
            "2"),
        cmd);
  }

  @Test
  void aTemplatesMemoryIsItsFileSharedAndARestoredVmMapsItPrivate() {
    assertEquals(
        List.of(
            "-m",
            "256M",
            "-object",
            "memory-backend-file,id=mem,size=256M,mem-path=/t/memory,share=on",
            "-numa",
            "node,memdev=mem"),
        new QemuArgs.FileMemory(256, Path.of("/t/memory"), true).args());
    assertTrue(
        new QemuArgs.FileMemory(256, Path.of("/t/memory"), false)
            .args()
            .get(3)
            .endsWith("share=off"));
    assertEquals(List.of("-incoming", "defer"), new QemuArgs.IncomingDeferred().args());
  }

  @Test
  void theTcgTranslationCacheIsCappedKvmHasNone() {
    assertEquals(List.of("-accel", "tcg,tb-size=32"), QemuArgs.Accel.tcg().args());
    assertEquals(List.of("-accel", "kvm"), QemuArgs.Accel.kvm().args());
  }

  @Test
  void everyVmRunsUnderQemusSeccompSandbox() {
    var flags = QemuArgs.Flags.defaults().args();
    int i = flags.indexOf("-sandbox");
    assertEquals(
        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        flags.get(i + 1));
  }
}
