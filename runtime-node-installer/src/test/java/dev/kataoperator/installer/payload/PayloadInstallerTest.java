package dev.kataoperator.installer.payload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.Hypervisor;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.installer.host.HostExec;
import dev.kataoperator.installer.payload.ClassConfig.Accel;
import dev.kataoperator.installer.payload.PayloadException.Kind;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The payload on a fake host root: copied and checked against the manifest, switched atomically,
 * idempotent, rolled back and removed. The AOT training cannot run on this fake payload (it has no
 * JRE), which shows how a cache that cannot be made is dropped.
 */
class PayloadInstallerTest {
  @TempDir Path tmp;

  static final List<ClassConfig> QEMU_TCG =
      List.of(new ClassConfig("kata-qemu", Hypervisor.qemu, Accel.tcg, false, "test: no KVM"));

  Path host() {
    return tmp.resolve("host");
  }

  /** The prefix as a host path: the test's host root is a temp dir. */
  static final Path PREFIX = Path.of("/opt/kata");

  Path prefix() {
    return host().resolve("opt/kata");
  }

  PayloadInstaller installer() {
    return new PayloadInstaller(
        host(), PREFIX, new HostExec(ProcessHandle.current().pid()), name -> {});
  }

  PayloadSource source(String version) throws Exception {
    Path image = tmp.resolve("image-" + version);
    return PayloadSource.open(Files.exists(image) ? image : FakePayload.create(image, version));
  }

  @Test
  void aFreshInstallHasTheLayoutAndEveryFileChecked() throws Exception {
    var src = source("1.0.0");
    var i = installer().install(src, QEMU_TCG);
    assertTrue(i.created() && i.switched());
    assertEquals(Optional.empty(), i.previous());
    assertEquals(List.of("kata-qemu"), i.addedLaunchers());
    Path v = prefix().resolve("versions/1.0.0");
    assertEquals(Path.of("versions/1.0.0"), Files.readSymbolicLink(prefix().resolve("current")));
    assertEquals(
        Path.of("../current/bin/containerd-shim-kata-qemu-v2"),
        Files.readSymbolicLink(prefix().resolve("bin/containerd-shim-kata-qemu-v2")));
    assertEquals(
        "rwxr-xr-x",
        java.nio.file.attribute.PosixFilePermissions.toString(
            Files.getPosixFilePermissions(v.resolve("bin/containerd-shim-kata-qemu-v2"))));
    assertEquals(
        Path.of("../java.base/LICENSE"),
        Files.readSymbolicLink(v.resolve("jre/legal/java.logging/LICENSE")),
        "links inside the version are kept as links");
    String config = Files.readString(PayloadLayout.configPath(prefix(), "kata-qemu"));
    assertTrue(config.contains("accel = \"tcg\""), config);
    assertTrue(config.contains("test: no KVM"), config);
    // No JRE in this payload: the cache cannot be made, and why is noted once.
    assertTrue(i.aot().startsWith("none (the training run failed"), i.aot());
    assertTrue(Files.exists(v.resolve("lib/shim.aot.unusable")));
    assertFalse(Files.exists(v.resolve("lib/shim.aot")));
    assertEquals(List.of(), leftovers());
  }

  @Test
  void installingTheSameVersionAgainTouchesNothing() throws Exception {
    var src = source("1.0.0");
    installer().install(src, QEMU_TCG);
    var before = stat(prefix());
    var again = installer().install(src, QEMU_TCG);
    assertFalse(again.created() || again.switched());
    assertEquals(List.of(), again.addedLaunchers());
    installer().cleanup(src, QEMU_TCG);
    assertEquals(before, stat(prefix()), "no file, link or directory changed, not even a time");
  }

  @Test
  void aDamagedInstalledVersionIsReplacedInOneSwap() throws Exception {
    var src = source("1.0.0");
    installer().install(src, QEMU_TCG);
    Path jar = prefix().resolve("versions/1.0.0/lib/shim.jar");
    Files.writeString(jar, "tampered");
    Files.delete(prefix().resolve("versions/1.0.0/jre/legal/java.base/LICENSE"));
    var i = installer().install(src, QEMU_TCG);
    assertTrue(i.created(), "replaced");
    assertFalse(i.switched(), "current never moved");
    assertEquals("jar of 1.0.0", Files.readString(jar));
    assertEquals(
        "license\n", Files.readString(prefix().resolve("current/jre/legal/java.logging/LICENSE")));
    assertEquals(List.of(), leftovers());
  }

  @Test
  void aFileThatDoesNotMatchTheManifestStopsEverything() throws Exception {
    var v1 = source("1.0.0");
    installer().install(v1, QEMU_TCG);
    Path image2 = FakePayload.create(tmp.resolve("image-2"), "2.0.0");
    Files.writeString(image2.resolve("versions/2.0.0/lib/shim.jar"), "not what the manifest says");
    var src2 = PayloadSource.open(image2);
    var e = assertThrows(PayloadException.class, () -> installer().install(src2, QEMU_TCG));
    assertEquals(Kind.DIGEST_MISMATCH, e.kind());
    assertTrue(e.getMessage().contains("lib/shim.jar"), e.getMessage());
    assertEquals(Path.of("versions/1.0.0"), Files.readSymbolicLink(prefix().resolve("current")));
    assertFalse(Files.exists(prefix().resolve("versions/2.0.0")));
    assertEquals(List.of(), leftovers(), "the half copy is gone");
  }

  @Test
  void theManifestMustCoverTheVersionExactly() throws Exception {
    Path image = FakePayload.create(tmp.resolve("image"), "1.0.0");
    Files.writeString(image.resolve("versions/1.0.0/lib/extra.jar"), "x");
    var e = assertThrows(PayloadException.class, () -> PayloadSource.open(image));
    assertEquals(Kind.BAD_IMAGE, e.kind());
    assertTrue(e.getMessage().contains("not in the manifest: lib/extra.jar"), e.getMessage());
    FakePayload.manifest(image);
    Files.delete(image.resolve("versions/1.0.0/lib/extra.jar"));
    e = assertThrows(PayloadException.class, () -> PayloadSource.open(image));
    assertTrue(e.getMessage().contains("missing from the image: lib/extra.jar"), e.getMessage());
  }

  @Test
  void aLinkOutOfTheVersionIsRefused() throws Exception {
    Path image = FakePayload.create(tmp.resolve("image"), "1.0.0");
    Files.createSymbolicLink(image.resolve("versions/1.0.0/lib/passwd"), Path.of("/etc/passwd"));
    FakePayload.manifest(image);
    var src = PayloadSource.open(image);
    var e = assertThrows(PayloadException.class, () -> installer().install(src, QEMU_TCG));
    assertEquals(Kind.BAD_IMAGE, e.kind());
    assertFalse(Files.exists(prefix().resolve("current"), LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  void upgradesKeepThePreviousVersionAndRemoveOlderOnes() throws Exception {
    installer().install(source("1.0.0"), QEMU_TCG);
    var v2 = source("2.0.0");
    var i2 = installer().install(v2, QEMU_TCG);
    assertEquals(Optional.of("1.0.0"), i2.previous());
    installer().cleanup(v2, QEMU_TCG);
    assertEquals(Set.of("1.0.0", "2.0.0"), versions());
    assertEquals(Path.of("versions/1.0.0"), Files.readSymbolicLink(prefix().resolve("previous")));
    var v3 = source("3.0.0");
    installer().install(v3, QEMU_TCG);
    installer().cleanup(v3, QEMU_TCG);
    assertEquals(Set.of("2.0.0", "3.0.0"), versions());
    assertEquals("launcher 3.0.0\n", sh(prefix().resolve("bin/containerd-shim-kata-qemu-v2")));
  }

  @Test
  void rollbackPutsThePreviousVersionBack() throws Exception {
    installer().install(source("1.0.0"), QEMU_TCG);
    var two =
        List.of(
            QEMU_TCG.getFirst(),
            new ClassConfig("kata-qemu-b", Hypervisor.qemu, Accel.tcg, false, "b"));
    var i = installer().install(source("2.0.0"), two);
    assertEquals(List.of("kata-qemu-b"), i.addedLaunchers());
    installer().rollback(i);
    assertEquals(Path.of("versions/1.0.0"), Files.readSymbolicLink(prefix().resolve("current")));
    assertEquals(Set.of("1.0.0"), versions(), "the new version is gone again");
    assertEquals(Set.of("kata-qemu"), installer().launcherClasses());
    assertEquals("launcher 1.0.0\n", sh(prefix().resolve("bin/containerd-shim-kata-qemu-v2")));
  }

  @Test
  void classConfigsFollowTheClassesAndTheTemplateComesBack() throws Exception {
    var src = source("1.0.0");
    var two =
        List.of(
            QEMU_TCG.getFirst(),
            new ClassConfig("kata-qemu-b", Hypervisor.qemu, Accel.tcg, false, "b"));
    installer().install(src, two);
    assertTrue(Files.exists(PayloadLayout.configPath(prefix(), "kata-qemu-b")));
    // The policy changed to KVM and kata-qemu is no longer wanted.
    var kvmOnlyB =
        List.of(new ClassConfig("kata-qemu-b", Hypervisor.qemu, Accel.kvm, false, "kvm"));
    installer().install(src, kvmOnlyB);
    assertTrue(
        Files.readString(PayloadLayout.configPath(prefix(), "kata-qemu-b"))
            .contains("accel = \"kvm\""));
    installer().cleanup(src, kvmOnlyB);
    assertEquals(Set.of("kata-qemu-b"), installer().launcherClasses());
    assertEquals(
        Files.readString(src.versionDir().resolve("share/defaults/kata-qemu.toml")),
        Files.readString(PayloadLayout.configPath(prefix(), "kata-qemu")),
        "the shipped template is back once no class uses its name");
  }

  @Test
  void uninstallRemovesOursAndLeavesOthers() throws Exception {
    installer().install(source("1.0.0"), QEMU_TCG);
    installer().install(source("2.0.0"), QEMU_TCG);
    Files.writeString(prefix().resolve("bin/someone-elses-tool"), "x");
    assertTrue(installer().uninstall());
    try (Stream<Path> s = Files.walk(prefix())) {
      assertEquals(
          List.of(prefix(), prefix().resolve("bin"), prefix().resolve("bin/someone-elses-tool")),
          s.sorted().toList());
    }
    Files.delete(prefix().resolve("bin/someone-elses-tool"));
    installer().install(source("1.0.0"), QEMU_TCG);
    assertTrue(installer().uninstall());
    assertFalse(Files.exists(prefix()), "nothing left, not even the prefix");
    assertFalse(installer().uninstall(), "nothing to do");
  }

  @Test
  void leftoversOfAKilledRunAreRemoved() throws Exception {
    var src = source("1.0.0");
    installer().install(src, QEMU_TCG);
    Files.createDirectories(prefix().resolve("versions/.2.0.0.kata-tmp-0badf00d/lib"));
    Files.createDirectories(prefix().resolve("versions/.0.9.0.kata-old-0badf00d"));
    Files.createSymbolicLink(prefix().resolve(".current.kata-tmp-0badf00d"), Path.of("versions/x"));
    Files.writeString(prefix().resolve("versions/1.0.0/lib/shim.aot.kata-tmp-0badf00d"), "half");
    assertEquals(4, leftovers().size());
    installer().install(src, QEMU_TCG);
    assertEquals(List.of(), leftovers());
  }

  // --- helpers ------------------------------------------------------------------------------

  Set<String> versions() throws Exception {
    try (Stream<Path> s = Files.list(prefix().resolve("versions"))) {
      return new java.util.TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
    }
  }

  List<Path> leftovers() throws Exception {
    try (Stream<Path> s = Files.walk(prefix())) {
      return s.filter(
              p -> {
                String n = p.getFileName().toString();
                return n.contains(".kata-tmp-")
                    || n.contains(".kata-old-")
                    || n.endsWith(".kata-operator.tmp");
              })
          .toList();
    }
  }

  /** Every path's inode, modification and change time (links not followed). */
  static Map<Path, String> stat(Path root) throws Exception {
    Map<Path, String> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.toList()) {
        Map<String, Object> a =
            Files.readAttributes(
                p, "unix:ino,lastModifiedTime,ctime,mode", LinkOption.NOFOLLOW_LINKS);
        m.put(
            p,
            a.get("ino")
                + " "
                + a.get("lastModifiedTime")
                + " "
                + a.get("ctime")
                + " "
                + a.get("mode"));
      }
    }
    return m;
  }

  static String sh(Path script) throws Exception {
    var r = dev.kataoperator.testsupport.Containerd.run(List.of(script.toString()), null, 30);
    return r.out();
  }
}
