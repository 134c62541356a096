package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.HostVirtualization;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input and faults: one clear line on stderr, a non-zero exit, nothing left behind. */
@Tag("vm")
class KataRunFaultsTest {
  @TempDir static Path tmp;
  static Path rootfs;

  @BeforeAll
  static void setUp() throws IOException {
    rootfs = Busybox.rootfs(tmp.resolve("busybox"));
  }

  @AfterEach
  void nothingLeaks() throws Exception {
    Leaks.assertNoneFromKataRun();
  }

  /** A config like the dev one, with {@code overrides} replacing whole lines by key. */
  static Path config(String name, String... overrides) throws IOException {
    Path guest = Repo.guestDir();
    var lines =
        new java.util.ArrayList<>(
            List.of(
                "[hypervisor]",
                "path = \"/usr/bin/qemu-system-x86_64\"",
                "kernel = \"" + guest.resolve("vmlinux") + "\"",
                "initrd = \"" + guest.resolve("rootfs.cpio.gz") + "\"",
                "accel = \"auto\"",
                "[agent]",
                "boot_timeout = 30"));
    for (String o : overrides) {
      String key = o.substring(0, o.indexOf('=')).strip();
      lines.replaceAll(l -> l.startsWith(key + " ") ? o : l);
    }
    Path f = tmp.resolve(name + ".toml");
    Files.write(f, lines);
    return f;
  }

  static KataRunTest.Result run(Path config, String... command) throws Exception {
    var args =
        new java.util.ArrayList<>(
            List.of("--config", config.toString(), "--rootfs", rootfs.toString(), "--"));
    args.addAll(List.of(command));
    return KataRunTest.kataRun(null, args.toArray(String[]::new));
  }

  static void assertOneLineError(KataRunTest.Result r, String expected) {
    assertEquals(125, r.exit(), r.stderr());
    assertEquals("", r.out());
    assertTrue(r.stderr().contains(expected), r.stderr());
    assertTrue(r.stderr().lines().anyMatch(l -> l.startsWith("kata-run: ")), r.stderr());
  }

  @Test
  void missingKernel() throws Exception {
    var r = run(config("nokernel", "kernel = \"/nonexistent/vmlinux\""), "true");
    assertOneLineError(r, "guest kernel not found at /nonexistent/vmlinux");
  }

  @Test
  void missingRootfsImage() throws Exception {
    var r = run(config("noinitrd", "initrd = \"/nonexistent/rootfs.img\""), "true");
    assertOneLineError(r, "guest rootfs not found at /nonexistent/rootfs.img");
  }

  @Test
  void missingQemu() throws Exception {
    var r = run(config("noqemu", "path = \"/nonexistent/qemu-system-x86_64\""), "true");
    assertOneLineError(r, "QEMU binary not found at /nonexistent/qemu-system-x86_64");
  }

  @Test
  void unusableKvmIsDetectedNotTimedOut() throws Exception {
    var host = HostVirtualization.probe();
    long start = System.nanoTime();
    var r = run(config("kvm", "accel = \"kvm\""), "true");
    if (host.kvmUsable()) {
      assertEquals(0, r.exit(), r.stderr());
    } else {
      assertOneLineError(r, "KVM cannot run the guest here");
      // Decided from the host's facts, not by booting and waiting for a hang.
      assertTrue(System.nanoTime() - start < 15_000_000_000L, "took too long to refuse");
    }
  }

  @Test
  void agentThatNeverAnswersTimesOut() throws Exception {
    // A guest whose init never starts an agent: the kernel boots, nobody answers.
    Path initrd = SilentGuest.initramfs(tmp.resolve("silent"));
    var r = run(config("silent", "initrd = \"" + initrd + "\"", "boot_timeout = 5"), "true");
    assertOneLineError(r, "did not answer within 5 s");
  }

  /**
   * A guest that floods its serial console (a hostile guest kernel could, without end): the shim
   * keeps only the console's last 64 KiB in memory, nothing on the node's disk or tmpfs, and the
   * boot error still shows the guest's last words.
   */
  @Test
  void aGuestFloodingItsConsoleFillsNothingAndItsLastWordsAreKept() throws Exception {
    Path initrd =
        SilentGuest.initramfs(
            tmp.resolve("flood"),
            "i=0; while [ $i -lt 2000 ]; do"
                + " echo \"flood line $i: a guest writing its console as fast as it can........\";"
                + " i=$((i+1)); done; echo LAST-WORDS-OF-THE-GUEST");
    var r = run(config("flood", "initrd = \"" + initrd + "\"", "boot_timeout = 40"), "true");
    assertOneLineError(r, "did not answer within 40 s");
    assertTrue(r.stderr().contains("LAST-WORDS-OF-THE-GUEST"), r.stderr());
    assertTrue(r.stderr().contains("flood line 1999"), r.stderr());
    assertTrue(!r.stderr().contains("flood line 0:"), "only the console's tail: " + r.stderr());
  }

  @Test
  void commandMissingFromTheRootfs() throws Exception {
    var r = KataRunTest.kataRun(null, "--rootfs", rootfs.toString(), "--", "/no/such/command");
    assertNotEquals(0, r.exit());
    assertTrue(r.stderr().contains("/no/such/command"), r.stderr());
  }

  @Test
  void rootfsThatIsNotADirectory() throws Exception {
    var r = KataRunTest.kataRun(null, "--rootfs", "/nonexistent/rootfs", "--", "true");
    assertOneLineError(r, "--rootfs /nonexistent/rootfs is not a directory");
  }

  @Test
  void unknownConfigKey() throws Exception {
    Path f = config("typo");
    Files.writeString(f, Files.readString(f) + "[runtime]\ndebgu = true\n");
    var r = run(f, "true");
    assertOneLineError(r, "unknown key runtime.debgu");
  }
}
