package dev.kataoperator.installer.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kataoperator.installer.cri.CriClient;
import dev.kataoperator.installer.cri.CriView;
import dev.kataoperator.testsupport.Containerd;
import dev.kataoperator.testsupport.Containerd.Version;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The installer's edits, judged by the real containerd 1.6.20 (Debian) and 2.2.7: each daemon runs
 * on a private config, root, state and socket under a temp dir, and crictl asks its CRI plugin
 * which runtime handlers it has.
 */
class RealContainerdTest {
  static final List<RuntimeHandler> KATA = List.of(RuntimeHandler.kata("kata-qemu"));

  /** A CRI setting of the user's that must survive our edits (default is 16384). */
  static final int LOG_LINE_SIZE = 4242;

  @TempDir Path dir;

  static void assumeInstalled(Version r) throws Exception {
    assumeTrue(r.installed() && Files.isExecutable(Containerd.CRICTL), r + " missing");
  }

  static ContainerdVersion versionOf(Version r) throws Exception {
    return ContainerdVersion.parse(r.release());
  }

  /**
   * A private config a real daemon starts with on this host, in {@code version} layout:
   * snapshotters that cannot work here and NRI (a host-wide socket) off, the opt plugin inside the
   * test dir, and one CRI setting of ours to check it is kept.
   */
  String privateConfig(int version) {
    String cri = version == 3 ? "io.containerd.cri.v1.runtime" : "io.containerd.grpc.v1.cri";
    return "# a private test daemon; comments and order must survive\n"
        + "version = "
        + version
        + "\n"
        + "disabled_plugins = [\n"
        + "  \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\",\n"
        + "  \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\",\n"
        + "  \"io.containerd.nri.v1.nri\",\n"
        + "]\n\n"
        + "[plugins]\n"
        + "  [plugins.\""
        + cri
        + "\"]\n"
        + "    max_container_log_line_size = "
        + LOG_LINE_SIZE
        + "  # ours\n"
        + "  [plugins.\"io.containerd.internal.v1.opt\"]\n"
        + "    path = \""
        + dir.resolve("opt")
        + "\"\n";
  }

  void installThenUninstall(Version release, int configVersion, ConfigSchema expected)
      throws Exception {
    assumeInstalled(release);
    Path main = dir.resolve("etc/config.toml");
    Files.createDirectories(main.getParent());
    String original = privateConfig(configVersion);
    Files.writeString(main, original);
    var config = new ContainerdConfig(Path.of("/"), main);

    var out = config.install(versionOf(release), KATA);
    assertEquals(expected, out.schema().orElseThrow());
    assertFalse(config.install(versionOf(release), KATA).changed(), "second install");
    try (var d = Containerd.startWithConfig(release, main, dir.resolve("run1"))) {
      JsonNode info = d.info();
      JsonNode kata = info.path("config").path("containerd").path("runtimes").path("kata-qemu");
      assertEquals(
          "io.containerd.kata-qemu.v2", kata.path("runtimeType").asText(), kata.toString());
      assertEquals("/opt/kata/bin/containerd-shim-kata-qemu-v2", kata.path("runtimePath").asText());
      assertEquals(
          "/opt/kata/current/share/defaults/kata-qemu.toml",
          kata.path("options").path("ConfigPath").asText());
      assertTrue(kata.path("privileged_without_host_devices").asBoolean());
      assertEquals(
          "io.containerd.runc.v2",
          info.path("config")
              .path("containerd")
              .path("runtimes")
              .path("runc")
              .path("runtimeType")
              .asText(),
          "runc is still there");
      assertEquals(LOG_LINE_SIZE, logLineSize(info));
      assertFalse(d.anyPluginFailed(), d.log());
      // The installer's own CRI client reads the same from containerd's verbose Status.
      try (CriClient cri = CriClient.open(d.socket())) {
        CriView view = CriView.of(cri.status(Duration.ofSeconds(30)));
        assertTrue(view.runtimeReady(), view.notReadyReason());
        CriView.Handler h = view.handlers().get("kata-qemu");
        assertEquals("io.containerd.kata-qemu.v2", h.runtimeType());
        assertEquals("/opt/kata/bin/containerd-shim-kata-qemu-v2", h.runtimePath());
        assertEquals(
            Optional.of("/opt/kata/current/share/defaults/kata-qemu.toml"), h.configPath());
        assertEquals("io.containerd.runc.v2", view.handlers().get("runc").runtimeType());
        assertEquals("containerd", cri.version(Duration.ofSeconds(30)).getRuntimeName());
      }
      assertEquals(Set.of("kata-qemu"), config.installedHandlers());
    }

    assertTrue(config.uninstall().changed());
    assertEquals(Set.of(), config.installedHandlers());
    assertEquals(original, Files.readString(main), "the main config is byte-for-byte back");
    try (var files = Files.list(main.getParent())) {
      assertEquals(List.of(main), files.toList(), "no drop-in, backup or temp file is left");
    }
    try (var d = Containerd.startWithConfig(release, main, dir.resolve("run2"))) {
      JsonNode runtimes = d.runtimes();
      assertTrue(runtimes.path("kata-qemu").isMissingNode(), runtimes.toString());
      try (CriClient cri = CriClient.open(d.socket())) {
        assertFalse(
            CriView.of(cri.status(Duration.ofSeconds(30))).handlers().containsKey("kata-qemu"));
      }
      assertEquals("io.containerd.runc.v2", runtimes.path("runc").path("runtimeType").asText());
      assertEquals(LOG_LINE_SIZE, logLineSize(d.info()));
      assertFalse(d.anyPluginFailed(), d.log());
    }
  }

  @Test
  void containerd16RegistersTheHandlerFromTheMainFileBlockAndForgetsItAfterUninstall()
      throws Exception {
    installThenUninstall(Version.V1_6, 2, ConfigSchema.V2);
  }

  @Test
  void containerd22RegistersTheHandlerFromAV3DropInAndForgetsItAfterUninstall() throws Exception {
    installThenUninstall(Version.V2_2, 3, ConfigSchema.V3);
  }

  @Test
  void containerd22WithAVersion2MainConfigTakesAV2DropIn() throws Exception {
    installThenUninstall(Version.V2_2, 2, ConfigSchema.V2);
  }

  /**
   * Without a main config the installer creates one; containerd's own view ({@code config dump})
   * has the handler on top of its defaults, and after uninstall the file is gone again.
   */
  @ParameterizedTest
  @EnumSource(Version.class)
  void aMissingMainConfigIsCreatedAndRemoved(Version release) throws Exception {
    assumeInstalled(release);
    Path main = dir.resolve("etc/config.toml");
    var config = new ContainerdConfig(Path.of("/"), main);
    config.install(versionOf(release), KATA);
    String dump = dump(release, main);
    assertTrue(dump.contains("containerd.runtimes.kata-qemu]"), dump);
    assertTrue(dump.contains("io.containerd.kata-qemu.v2"), dump);
    assertTrue(dump.contains("containerd.runtimes.runc]"), "runc is kept:\n" + dump);
    config.uninstall();
    assertFalse(Files.exists(main));
    try (var files = Files.list(main.getParent())) {
      assertEquals(List.of(), files.toList());
    }
  }

  /**
   * Why containerd 1.x gets a block in the main file: 1.6 lets an imported file replace a plugin's
   * whole section, so a drop-in naming the CRI plugin throws away the main config's CRI settings.
   * If a future 1.x merged like 2.x does, this fails and the choice can be revisited.
   */
  @Test
  void containerd16DropInsWouldWipeTheMainCriSection() throws Exception {
    assumeInstalled(Version.V1_6);
    Path main = dir.resolve("config.toml");
    Path dropIn = dir.resolve("drop-in.toml");
    Files.writeString(
        main,
        "version = 2\nimports = [\""
            + dropIn
            + "\"]\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  max_container_log_line_size = "
            + LOG_LINE_SIZE
            + "\n");
    Files.writeString(
        dropIn, "version = 2\n" + RuntimeHandler.kata("kata-qemu").toToml(ConfigSchema.V2));
    String dump = dump(Version.V1_6, main);
    assertTrue(dump.contains("io.containerd.kata-qemu.v2"), dump);
    assertFalse(dump.contains("max_container_log_line_size = " + LOG_LINE_SIZE), dump);
    assertFalse(dump.contains("containerd.runtimes.runc]"), "runc is gone too:\n" + dump);
  }

  /** ... while 2.2 merges the drop-in into the main config's section. */
  @Test
  void containerd22MergesDropInsIntoTheMainCriSection() throws Exception {
    assumeInstalled(Version.V2_2);
    Path main = dir.resolve("config.toml");
    Files.writeString(main, privateConfig(3));
    new ContainerdConfig(Path.of("/"), main).install(versionOf(Version.V2_2), KATA);
    String dump = dump(Version.V2_2, main);
    assertTrue(dump.contains("max_container_log_line_size = " + LOG_LINE_SIZE), dump);
    assertTrue(dump.contains("io.containerd.kata-qemu.v2"), dump);
  }

  /** max_container_log_line_size as crictl info shows it (1.6 and 2.2 name it differently). */
  static int logLineSize(JsonNode info) {
    JsonNode c = info.path("config");
    return c.has("maxContainerLogLineSize")
        ? c.path("maxContainerLogLineSize").asInt()
        : c.path("maxContainerLogSize").asInt();
  }

  String dump(Version release, Path config) throws Exception {
    var r =
        Containerd.run(
            List.of(release.containerd.toString(), "--config", config.toString(), "config", "dump"),
            null,
            60);
    assertEquals(0, r.exit(), r.out());
    return r.out();
  }
}
