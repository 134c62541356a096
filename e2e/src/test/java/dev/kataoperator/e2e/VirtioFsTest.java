package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A container whose root filesystem is shared from the host over virtio-fs (virtiofsd, a vhost-user
 * device) instead of the default virtio-9p. Under TCG, code read over virtio-fs once ran stale
 * translations: every exec after the file's first read died of SIGSEGV (exit 139).
 */
@Tag("vm")
class VirtioFsTest {
  @TempDir static Path tmp;
  static Path rootfs;
  static Path config;

  @BeforeAll
  static void setUp() throws IOException {
    Path virtiofsd = Repo.root().resolve("build/virtiofsd/virtiofsd");
    if (!Files.isExecutable(virtiofsd)) {
      throw new IllegalStateException("no virtiofsd at " + virtiofsd + "; run 'make virtiofsd'");
    }
    rootfs = Busybox.rootfs(tmp.resolve("busybox"));
    Path guest = Repo.guestDir();
    config = tmp.resolve("virtio-fs.toml");
    Files.write(
        config,
        List.of(
            "[hypervisor]",
            "path = \"/usr/bin/qemu-system-x86_64\"",
            "kernel = \"" + guest.resolve("vmlinux") + "\"",
            "initrd = \"" + guest.resolve("rootfs.cpio.gz") + "\"",
            "shared_fs = \"virtio-fs\"",
            "virtiofsd = \"" + virtiofsd + "\"",
            "accel = \"auto\"",
            "[agent]",
            "boot_timeout = 30"));
  }

  @AfterEach
  void nothingLeaks() throws Exception {
    // Covers virtiofsd as well as QEMU: both name the run directory on their command line.
    Leaks.assertNoneFromKataRun();
  }

  static KataRunTest.Result run(String... command) throws Exception {
    var args =
        new ArrayList<>(
            List.of("--config", config.toString(), "--rootfs", rootfs.toString(), "--"));
    args.addAll(List.of(command));
    return KataRunTest.kataRun(null, args.toArray(String[]::new));
  }

  @Test
  void unameRunsFromAVirtioFsRoot() throws Exception {
    var r = run("sh", "-c", "uname -r; cat /proc/mounts");
    assertEquals(0, r.exit(), r.stderr());
    var lines = r.out().lines().toList();
    assertEquals(Repo.guestKernelRelease(), lines.getFirst());
    // Really virtio-fs, not a silent fallback to 9p.
    assertTrue(
        lines.stream().anyMatch(l -> l.matches("\\S+ / virtiofs .*")),
        "the container's / is not virtiofs:\n" + r.out());
  }

  @Test
  void exitStatusesComeThrough() throws Exception {
    var ok = run("true");
    assertEquals(0, ok.exit(), ok.stderr());
    var seven = run("sh", "-c", "exit 7");
    assertEquals(7, seven.exit(), seven.stderr());
  }

  @Test
  void theHostSeesWhatTheContainerWrites() throws Exception {
    var r = run("sh", "-c", "echo written in the guest > /work/out.txt && sync");
    assertEquals(0, r.exit(), r.stderr());
    assertEquals(
        "written in the guest\n",
        Files.readString(rootfs.resolve("work/out.txt"), StandardCharsets.UTF_8));
  }

  /**
   * Root in the guest asks for a device node on the share: virtiofsd has no CAP_MKNOD, so the host
   * filesystem never gets one (a device node there would open the host's device to anyone who can
   * reach the file, a runc pod sharing the volume say).
   */
  @Test
  void aDeviceNodeMadeInTheGuestNeverReachesTheHost() throws Exception {
    var r = run("sh", "-c", "mkdir -p /work && mknod /work/mem c 1 1; echo mknod=$?");
    assertEquals(0, r.exit(), r.stderr());
    assertTrue(r.out().contains("mknod=1"), "mknod succeeded in the guest: " + r.out());
    assertTrue(
        !Files.exists(rootfs.resolve("work/mem"), java.nio.file.LinkOption.NOFOLLOW_LINKS),
        "the host has a device node made by the guest");
  }

  /**
   * The regression: each exec opens the binary again, virtio-fs (cache=auto) drops its page cache
   * and virtiofsd refills recycled guest pages. Without the guest zeroing the pages it allocates,
   * TCG ran code it had translated from those pages' old contents and nearly every exec here
   * crashed.
   */
  @Test
  void binariesFromTheShareRunAgainAndAgain() throws Exception {
    var r =
        run(
            "sh",
            "-c",
            "for i in $(seq 30); do /bin/busybox true || { echo \"exec $i: $?\"; exit 99; }; done;"
                + " sha256sum /bin/busybox");
    assertEquals(0, r.exit(), r.out() + r.stderr());
    assertEquals(sha256(Busybox.BINARY) + "  /bin/busybox", r.out().strip());
  }

  private static String sha256(Path file) throws Exception {
    var md = MessageDigest.getInstance("SHA-256");
    try (InputStream in = Files.newInputStream(file)) {
      md.update(in.readAllBytes());
    }
    return HexFormat.of().formatHex(md.digest());
  }
}
