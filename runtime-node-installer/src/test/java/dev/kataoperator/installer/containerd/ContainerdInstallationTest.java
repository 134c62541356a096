package dev.kataoperator.installer.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kataoperator.contract.ContainerdFlavor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
class ContainerdInstallationTest {
  static final Path DEBIAN = Path.of("/usr/bin/containerd");
  static final Path V2 = Path.of("/opt/kata-dev-tools/bin/containerd");

  @TempDir Path host;
  @TempDir Path proc;

  @Test
  void parsesVersionLines() {
    assertEquals(
        Optional.of(new ContainerdVersion(1, 6, 20)),
        ContainerdVersion.parseVersionOutput(
            "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"));
    assertEquals(
        Optional.of(new ContainerdVersion(2, 2, 7)),
        ContainerdVersion.parseVersionOutput(
            "containerd github.com/containerd/containerd/v2 2.2.7+unknown \n"));
    assertEquals(
        Optional.of(new ContainerdVersion(1, 7, 21)),
        ContainerdVersion.parseVersionOutput(
            "containerd github.com/k3s-io/containerd v1.7.21-k3s2 abcdef"));
    assertEquals(
        Optional.empty(), ContainerdVersion.parseVersionOutput("k3s version v1.31.1+k3s1"));
    assertFalse(new ContainerdVersion(1, 5, 18).isSupported());
    assertTrue(new ContainerdVersion(1, 6, 0).isSupported());
  }

  @Test
  void readsTheConfigArgument() {
    assertEquals(
        Optional.of(Path.of("/a.toml")),
        ContainerdInstallation.configArg(List.of("containerd", "--config", "/a.toml")));
    assertEquals(
        Optional.of(Path.of("/k.toml")),
        ContainerdInstallation.configArg(List.of("containerd", "-c", "/k.toml", "-a", "/s")));
    assertEquals(
        Optional.of(Path.of("/b.toml")),
        ContainerdInstallation.configArg(List.of("containerd", "--config=/b.toml")));
    assertEquals(Optional.empty(), ContainerdInstallation.configArg(List.of("containerd")));
  }

  @Test
  void asksTheRealBinariesForTheirVersion() {
    assumeTrue(Files.isExecutable(DEBIAN) && Files.isExecutable(V2));
    var q =
        new ContainerdInstallation.Query(
            host, Optional.empty(), Optional.empty(), Optional.empty(), Optional.of(DEBIAN));
    assertEquals(
        new ContainerdVersion(1, 6, 20), ContainerdInstallation.detect(q).version().orElseThrow());
    q =
        new ContainerdInstallation.Query(
            host, Optional.empty(), Optional.empty(), Optional.empty(), Optional.of(V2));
    assertEquals(
        new ContainerdVersion(2, 2, 7), ContainerdInstallation.detect(q).version().orElseThrow());
  }

  /**
   * A k3s node as the installer pod sees it: the running containerd's cmdline names k3s's config.
   */
  @Test
  void findsARunningK3sContainerd() throws Exception {
    assumeTrue(Files.isExecutable(DEBIAN));
    Path p = Files.createDirectories(proc.resolve("4242"));
    Files.writeString(p.resolve("comm"), "containerd\n");
    Files.writeString(
        p.resolve("cmdline"),
        "containerd\0-c\0/var/lib/rancher/k3s/agent/etc/containerd/config.toml\0-a\0/run/k3s/containerd/containerd.sock\0");
    Files.createSymbolicLink(p.resolve("exe"), DEBIAN);
    Path other = Files.createDirectories(proc.resolve("17"));
    Files.writeString(other.resolve("comm"), "kubelet\n");
    Files.createDirectories(proc.resolve("self"));
    var found =
        ContainerdInstallation.detect(
            new ContainerdInstallation.Query(
                host, Optional.of(proc), Optional.empty(), Optional.empty(), Optional.empty()));
    assertEquals(ContainerdFlavor.k3s, found.flavor());
    assertEquals(
        ContainerdFlavor.k3s.config(), found.config(), "k3s is configured through its template");
    assertFalse(found.configExists());
    assertEquals(new ContainerdVersion(1, 6, 20), found.version().orElseThrow());
    assertTrue(found.source().startsWith("process 4242"), found.source());
  }

  @Test
  void fallsBackToWellKnownPaths() throws Exception {
    Path rke2 = host.resolve("var/lib/rancher/rke2/agent/etc/containerd");
    Files.createDirectories(rke2);
    Files.writeString(rke2.resolve("config.toml"), "version = 2\n");
    var found =
        ContainerdInstallation.detect(
            new ContainerdInstallation.Query(
                host, Optional.of(proc), Optional.empty(), Optional.empty(), Optional.empty()));
    assertEquals(ContainerdFlavor.rke2, found.flavor());
    assertEquals(Optional.empty(), found.binary(), "no binary under the fake root");
    assertEquals("path", found.source());

    var plain =
        ContainerdInstallation.detect(
            new ContainerdInstallation.Query(
                host,
                Optional.empty(),
                Optional.of(ContainerdFlavor.containerd),
                Optional.empty(),
                Optional.empty()));
    assertEquals(Path.of("/etc/containerd/config.toml"), plain.config());
  }
}
