package dev.kataoperator.installer.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.installer.host.HostProcesses;
import dev.kataoperator.testsupport.Containerd;
import dev.kataoperator.testsupport.Containerd.Version;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Finding containerd by what a tenant cannot fake: the kernel's record of who serves the CRI socket
 * (SO_PEERCRED), root, in the host's mount namespace; its release from CRI Version.
 */
class ContainerdInstallationTest {
  @TempDir Path tmp;

  /** This JVM's namespaces stand for the host's (PID 1 here is not the host's init). */
  static HostProcesses here() {
    return new HostProcesses(Path.of("/proc"), ProcessHandle.current().pid());
  }

  @Test
  void parsesVersions() {
    assertEquals(new ContainerdVersion(1, 6, 20), ContainerdVersion.parse("1.6.20~ds1"));
    assertEquals(new ContainerdVersion(2, 2, 7), ContainerdVersion.parse("2.2.7+unknown"));
    assertEquals(new ContainerdVersion(1, 7, 21), ContainerdVersion.parse("v1.7.21-k3s2"));
    assertFalse(new ContainerdVersion(1, 5, 18).isSupported());
    assertTrue(new ContainerdVersion(1, 6, 0).isSupported());
  }

  @Test
  void readsTheConfigAndAddressArguments() {
    Optional<Path> cwd = Optional.of(Path.of("/var/lib"));
    assertEquals(
        Optional.of(Path.of("/a.toml")),
        ContainerdInstallation.configArg(List.of("containerd", "--config", "/a.toml"), cwd));
    assertEquals(
        Optional.of(Path.of("/k.toml")),
        ContainerdInstallation.configArg(List.of("containerd", "-c", "/k.toml", "-a", "/s"), cwd));
    assertEquals(
        Optional.of(Path.of("/var/lib/rel.toml")),
        ContainerdInstallation.configArg(List.of("containerd", "--config=rel.toml"), cwd),
        "relative to containerd's working directory");
    assertEquals(Optional.empty(), ContainerdInstallation.configArg(List.of("containerd"), cwd));
    assertEquals(
        Optional.of(Path.of("/run/k3s/containerd/containerd.sock")),
        ContainerdInstallation.addressArg(
            List.of("containerd", "-a", "/run/k3s/containerd/containerd.sock")));
  }

  @Test
  void grpcAddressComesFromTheConfig() throws Exception {
    Path cfg = tmp.resolve("etc/containerd/config.toml");
    Files.createDirectories(cfg.getParent());
    Files.writeString(cfg, "version = 2\n[grpc]\n  address = \"/run/custom/c.sock\"\n");
    assertEquals(
        Optional.of(Path.of("/run/custom/c.sock")),
        ContainerdInstallation.grpcAddress(tmp, Path.of("/etc/containerd/config.toml")));
    var q =
        new ContainerdInstallation.Query(
            tmp,
            here(),
            Optional.empty(),
            Optional.of(Path.of("/etc/containerd/config.toml")),
            Optional.empty());
    assertEquals(
        List.of(Path.of("/run/custom/c.sock")), ContainerdInstallation.candidateSockets(q));
  }

  /** The real releases, found by their socket; the version is what CRI says, nothing run. */
  @ParameterizedTest
  @EnumSource(Version.class)
  void findsTheRealContainerdByItsSocket(Version version) throws Exception {
    assumeTrue(version.installed(), version + " missing");
    Path config = tmp.resolve("config.toml");
    Files.writeString(config, "version = 2\n");
    try (var c = Containerd.startWithConfig(version, config, tmp.resolve("c"))) {
      var found =
          ContainerdInstallation.detect(
              new ContainerdInstallation.Query(
                  tmp,
                  here(),
                  Optional.of(ContainerdFlavor.containerd),
                  Optional.empty(),
                  Optional.of(c.socket())));
      var running = found.running().orElseThrow(() -> new AssertionError(found.rejected()));
      assertEquals(c.pid(), running.pid());
      assertEquals(config, running.configArg());
      assertEquals(c.socket(), found.socket());
      assertEquals(ContainerdVersion.parse(version.release()), found.version().orElseThrow());
      assertTrue(found.versionOutput().startsWith("containerd "), found.versionOutput());
      assertEquals(config, found.config(), "the config it reads is the one to edit");
      assertEquals(Optional.empty(), found.configMismatch());
    }
  }

  /**
   * A socket served by someone other than root is not the node's containerd, whatever it answers.
   */
  @Test
  void aSocketServedByAnotherUserIsRejected() throws Exception {
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/socat")), "socat missing");
    // uid 65534 must reach the directory to bind its socket there.
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx--x--x"));
    Path dir = Files.createDirectories(tmp.resolve("s"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    Path socket = dir.resolve("fake.sock");
    Process p =
        new ProcessBuilder(
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "socat",
                "UNIX-LISTEN:" + socket + ",fork",
                "SYSTEM:true")
            .redirectErrorStream(true)
            .start();
    try {
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (!Files.exists(socket) && System.nanoTime() < deadline) {
        if (!p.isAlive()) {
          throw new AssertionError("socat: " + new String(p.getInputStream().readAllBytes()));
        }
        Thread.sleep(50);
      }
      var found =
          ContainerdInstallation.detect(
              new ContainerdInstallation.Query(
                  tmp, here(), Optional.empty(), Optional.empty(), Optional.of(socket)));
      assertTrue(found.running().isEmpty());
      assertTrue(
          found.rejected().getFirst().contains("as uid 65534, not root"),
          found.rejected().toString());
    } finally {
      p.destroy();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /**
   * With no socket answering at the usual places, the host's processes are scanned: a process named
   * containerd with a lower pid, owned by uid 1000, is turned down (and its binary never run), as
   * is a root one in a container's mount namespace; the real containerd is taken, and only because
   * the kernel says it serves the socket its command line names.
   */
  @Test
  void aLowerPidContainerdOfAnotherUserIsRejectedAndNothingIsExecuted() throws Exception {
    assumeTrue(Version.V1_6.installed(), "containerd 1.6 missing");
    Path config = tmp.resolve("config.toml");
    Files.writeString(config, "version = 2\n");
    try (var c = Containerd.startWithConfig(Version.V1_6, config, tmp.resolve("c"))) {
      long real = c.pid();
      Path proc = tmp.resolve("proc");
      Path fakeRoot = Files.createDirectories(tmp.resolve("root"));
      // The host's root as the fake proc shows it: only the real socket is there.
      Path link = fakeRoot.resolve(c.socket().toString().substring(1));
      Files.createDirectories(link.getParent());
      Files.createSymbolicLink(link, c.socket());
      process(proc, 1, "systemd", 0, "mnt:[4026531840]", List.of("/sbin/init"));
      Files.createSymbolicLink(proc.resolve("1/root"), fakeRoot);
      Path marker = tmp.resolve("executed");
      Path evil = tmp.resolve("evil");
      Files.writeString(evil, "#!/bin/sh\ntouch " + marker + "\n");
      Files.setPosixFilePermissions(evil, PosixFilePermissions.fromString("rwxr-xr-x"));
      Path fake =
          process(
              proc,
              5,
              "containerd",
              1000,
              "mnt:[4026531840]",
              List.of("containerd", "--address", c.socket().toString(), "--config", "/evil.toml"));
      Files.createSymbolicLink(fake.resolve("exe"), evil);
      process(
          proc,
          7,
          "containerd",
          0,
          "mnt:[4026532999]",
          List.of("containerd", "--address", c.socket().toString()));
      process(
          proc,
          real,
          "containerd",
          0,
          "mnt:[4026531840]",
          List.of("containerd", "--config", config.toString(), "--address", c.socket().toString()));

      var found =
          ContainerdInstallation.detect(
              new ContainerdInstallation.Query(
                  tmp,
                  new HostProcesses(proc, 1),
                  Optional.empty(),
                  Optional.empty(),
                  Optional.empty()));

      assertEquals(
          real, found.running().orElseThrow(() -> new AssertionError(found.rejected())).pid());
      assertEquals(config, found.config());
      assertEquals(new ContainerdVersion(1, 6, 20), found.version().orElseThrow());
      String rejected = String.join("\n", found.rejected());
      assertTrue(
          rejected.contains("process 5 named containerd: pid 5 runs as uid 1000, not root"),
          rejected);
      assertTrue(
          rejected.contains("process 7 named containerd: pid 7 runs in another mount namespace"),
          rejected);
      assertTrue(rejected.contains("/run/containerd/containerd.sock: no such socket"), rejected);
      assertFalse(Files.exists(marker), "nothing found through /proc was executed");
    }
  }

  /** A fake /proc/PID: comm, status (uid), ns/mnt, cmdline. */
  static Path process(Path proc, long pid, String comm, int uid, String mntNs, List<String> args)
      throws Exception {
    Path d = Files.createDirectories(proc.resolve(Long.toString(pid)));
    Files.writeString(d.resolve("comm"), comm + "\n");
    Files.writeString(
        d.resolve("status"),
        "Name:\t" + comm + "\nUid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid + "\n");
    Files.createDirectories(d.resolve("ns"));
    Files.createSymbolicLink(d.resolve("ns/mnt"), Path.of(mntNs));
    Files.writeString(d.resolve("cmdline"), String.join("\0", args) + "\0");
    return d;
  }

  @Test
  void theFlavorComesFromWellKnownPathsWhenNothingServes() throws Exception {
    Path rke2 = tmp.resolve("var/lib/rancher/rke2/agent/etc/containerd");
    Files.createDirectories(rke2);
    Files.writeString(rke2.resolve("config.toml"), "version = 2\n");
    Path proc = Files.createDirectories(tmp.resolve("proc"));
    Files.createDirectories(proc.resolve("1"));
    Files.createSymbolicLink(proc.resolve("1/root"), Files.createDirectories(tmp.resolve("empty")));
    var found =
        ContainerdInstallation.detect(
            new ContainerdInstallation.Query(
                tmp,
                new HostProcesses(proc, 1),
                Optional.empty(),
                Optional.empty(),
                Optional.empty()));
    assertEquals(ContainerdFlavor.rke2, found.flavor());
    assertEquals(ContainerdFlavor.rke2.config(), found.config(), "rke2 is configured by template");
    assertEquals(ContainerdFlavor.rke2.socket(), found.socket());
    assertTrue(found.running().isEmpty());

    var plain =
        ContainerdInstallation.detect(
            new ContainerdInstallation.Query(
                tmp,
                new HostProcesses(proc, 1),
                Optional.of(ContainerdFlavor.containerd),
                Optional.empty(),
                Optional.empty()));
    assertEquals(Path.of("/etc/containerd/config.toml"), plain.config());
  }
}
