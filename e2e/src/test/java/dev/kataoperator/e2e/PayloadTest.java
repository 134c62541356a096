package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.testsupport.Containerd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node payload as the installer ships it: built, installed under a PREFIX, and used by a real
 * containerd that finds the shim in PREFIX/bin with nothing else configured (bundled JRE, QEMU,
 * guest and default config).
 */
@Tag("vm")
class PayloadTest {
  @TempDir Path tmp;

  private static void script(String path, String... args) throws Exception {
    var cmd = new java.util.ArrayList<>(List.of("bash", Repo.root().resolve(path).toString()));
    cmd.addAll(List.of(args));
    var pb = new ProcessBuilder(cmd).inheritIO();
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    assertEquals(0, pb.start().waitFor(), String.join(" ", cmd));
  }

  @Test
  void installedPayloadRunsAContainerThroughContainerd() throws Exception {
    Path payload = tmp.resolve("payload");
    Path prefix = tmp.resolve("opt-kata");
    script(
        "shim/payload/build-payload.sh",
        payload.toString(),
        "0.0.0-test",
        Repo.guestDir().toString(),
        Repo.root().resolve("build/virtiofsd/virtiofsd").toString());
    script("shim/payload/install-payload.sh", payload.toString(), prefix.toString());
    // The tree the scripts built is the one the contract describes (PayloadLayout), so the
    // installer and the shim find what the scripts put there.
    assertTrue(Files.isExecutable(PayloadLayout.shimPath(prefix, "kata-qemu")));
    assertEquals(
        PayloadLayout.versionDir(prefix, "0.0.0-test"),
        prefix.resolve(PayloadLayout.CURRENT_LINK).toRealPath());
    Path current = prefix.resolve(PayloadLayout.CURRENT_LINK);
    for (Path p :
        List.of(
            current.resolve(PayloadLayout.JRE_DIR).resolve("bin/java"),
            current.resolve(PayloadLayout.LIB_DIR).resolve(PayloadLayout.JVM_OPTIONS),
            current.resolve(PayloadLayout.GUEST_DIR).resolve(PayloadLayout.KERNEL),
            current.resolve(PayloadLayout.GUEST_DIR).resolve(PayloadLayout.INITRD),
            current.resolve(PayloadLayout.VERSION_FILE),
            PayloadLayout.configPath(prefix, "kata-qemu"))) {
      assertTrue(Files.isRegularFile(p), "missing from the payload: " + p);
    }
    assertTrue(
        Files.isRegularFile(
            current.resolve(PayloadLayout.LIB_DIR).resolve(PayloadLayout.AOT_CACHE)),
        "AOT cache made");

    Path images = Repo.root().resolve("build/images");
    script("e2e/images/build-busybox.sh", images.toString());
    try (var containerd =
        Containerd.start(
            Containerd.Version.V1_6, tmp.resolve("ctd"), "", prefix.resolve("bin"), false)) {
      assertEquals(
          0, containerd.ctr("images", "import", images.resolve("busybox.tar").toString()).exit());
      // While it runs, the pod's QEMU must be the payload's, not the machine's.
      var started =
          containerd.ctr(
              "run",
              "-d",
              "--runtime",
              Containerd.RUNTIME,
              ContainerdShimTest.IMAGE,
              "p1",
              "sleep",
              "60");
      assertEquals(0, started.exit(), started + containerd.log());
      var qemu = Leaks.processes("/run/kata/shim/default/p1");
      assertEquals(1, qemu.size(), qemu.toString());
      assertTrue(qemu.getFirst().contains(prefix.toString()), qemu.getFirst());
      var uname = containerd.ctr("task", "exec", "--exec-id", "u", "p1", "uname", "-r");
      assertEquals(Repo.guestKernelRelease(), uname.out().strip(), uname.toString());
      containerd.ctr("task", "kill", "-s", "KILL", "p1");
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (!containerd.ctr("task", "ls").out().contains("STOPPED")
          && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      assertEquals(0, containerd.ctr("task", "delete", "p1").exit());
      assertEquals(0, containerd.ctr("containers", "rm", "p1").exit());
    }
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!Leaks.processes("/run/kata/shim/").isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertEquals(List.of(), Leaks.processes("/run/kata/shim/"));
  }
}
