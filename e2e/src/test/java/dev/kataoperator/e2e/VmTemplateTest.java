package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * VM templates (opt-in per runtime class: {@code [factory] enable_template}): the first VM of a
 * shape boots the template and every VM is restored from it, runs its container as a booted one
 * does, and has its own identity: random numbers, boot_id and clock.
 */
@Tag("vm")
class VmTemplateTest {
  @TempDir static Path tmp;
  static Path rootfs;

  @BeforeAll
  static void rootfs() throws IOException {
    rootfs = Busybox.rootfs(tmp.resolve("busybox"));
  }

  @AfterEach
  void nothingLeaks() throws Exception {
    Leaks.assertNoneFromKataRun();
  }

  /** The dev config with absolute paths, templates on, kept under {@code templates}. */
  static Path config(String name, Path initrd, Path templates) throws IOException {
    Path guest = Repo.guestDir();
    String text =
        Files.readString(guest.resolve("kata-qemu.toml"))
            .replaceAll("(?m)^kernel = .*$", "kernel = \"" + guest.resolve("vmlinux") + "\"")
            .replaceAll("(?m)^initrd = .*$", "initrd = \"" + initrd + "\"");
    Path config = tmp.resolve(name + ".toml");
    Files.writeString(
        config,
        text + "\n[factory]\nenable_template = true\ntemplate_path = \"" + templates + "\"\n");
    return config;
  }

  static KataRunTest.Result run(Path config) throws Exception {
    return KataRunTest.kataRun(
        null,
        "--config",
        config.toString(),
        "--rootfs",
        rootfs.toString(),
        "--",
        "sh",
        "-c",
        "cat /proc/sys/kernel/random/boot_id; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n';"
            + " echo; date +%s");
  }

  static List<String> shapes(Path templates) throws IOException {
    try (Stream<Path> s = Files.list(templates)) {
      return s.filter(d -> Files.isRegularFile(d.resolve("state")))
          .map(d -> d.getFileName().toString())
          .sorted()
          .toList();
    }
  }

  @Test
  void vmsFromOneTemplateRunContainersEachWithItsOwnRandomBootIdAndClock() throws Exception {
    Path templates = tmp.resolve("templates");
    Path config = config("kata-template", Repo.guestDir().resolve("rootfs.cpio.gz"), templates);

    var first = run(config);
    var second = run(config);

    for (var r : List.of(first, second)) {
      assertEquals(0, r.exit(), r.stderr());
      assertTrue(r.stderr().contains("restored from VM template"), r.stderr());
    }
    assertTrue(first.stderr().contains("built in"), "the first VM built the template");
    assertTrue(!second.stderr().contains("built in"), "the second found it: " + second.stderr());
    assertEquals(1, shapes(templates).size());

    List<String> a = first.out().lines().toList();
    List<String> b = second.out().lines().toList();
    assertEquals(3, a.size(), first.out());
    assertEquals(3, b.size(), second.out());
    assertNotEquals(a.get(0), b.get(0), "boot_id: each VM made its own after the reseed");
    assertNotEquals(Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip(), a.get(0));
    assertEquals(32, a.get(1).length(), a.get(1));
    assertNotEquals(
        a.get(1), b.get(1), "random bytes: the template's generator state was reseeded");
    long now = Instant.now().getEpochSecond();
    for (var out : List.of(a, b)) {
      long guest = Long.parseLong(out.get(2));
      assertTrue(
          Math.abs(now - guest) < 30, "the guest's clock is the host's: " + guest + " " + now);
    }
  }

  /** A new rootfs (or kernel, QEMU, config) is a new shape: its VMs never restore an old guest. */
  @Test
  void aChangedRootfsGetsItsOwnTemplate() throws Exception {
    Path templates = tmp.resolve("templates-changed");
    Path initrd = tmp.resolve("rootfs.cpio.gz");
    Files.copy(Repo.guestDir().resolve("rootfs.cpio.gz"), initrd);
    Path config = config("kata-template-changed", initrd, templates);
    assertEquals(0, run(config).exit());
    Files.setLastModifiedTime(initrd, FileTime.from(Instant.now().plusSeconds(60)));

    var again = run(config);

    assertEquals(0, again.exit(), again.stderr());
    assertTrue(again.stderr().contains("built in"), again.stderr());
    assertEquals(2, shapes(templates).size());
  }
}
