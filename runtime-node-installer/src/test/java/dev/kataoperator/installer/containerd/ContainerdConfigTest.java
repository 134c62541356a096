package dev.kataoperator.installer.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.installer.containerd.ContainerdConfig.Action;
import dev.kataoperator.installer.containerd.ContainerdConfig.Strategy;
import dev.kataoperator.installer.containerd.ContainerdConfigException.Kind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;

/** The file-level behaviour, on a fake host root; ContainerdIT shows containerd agrees. */
@Tag("unit")
class ContainerdConfigTest {
  static final ContainerdVersion V1_6 = new ContainerdVersion(1, 6, 20);
  static final ContainerdVersion V1_7 = new ContainerdVersion(1, 7, 27);
  static final ContainerdVersion V2_2 = new ContainerdVersion(2, 2, 7);
  static final Path MAIN = Path.of("/etc/containerd/config.toml");
  static final Path DROP_IN = Path.of("/etc/containerd/kata-operator.toml");
  static final List<RuntimeHandler> KATA = List.of(RuntimeHandler.kata("kata-qemu"));

  @TempDir Path root;
  ContainerdConfig config;

  @BeforeEach
  void setUp() throws Exception {
    Files.createDirectories(root.resolve("etc/containerd"));
    config = new ContainerdConfig(root, MAIN);
  }

  Path onHost(Path p) {
    return root.resolve(p.toString().substring(1));
  }

  void writeMain(String text) throws Exception {
    Files.writeString(onHost(MAIN), text);
  }

  String main() throws Exception {
    return Files.readString(onHost(MAIN));
  }

  /** Every file under the fake root with its content: to prove "nothing changed". */
  Map<String, String> snapshot() throws Exception {
    Map<String, String> files = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        files.put(root.relativize(p).toString(), Files.readString(p));
      }
    }
    return files;
  }

  static TomlParseResult parse(String text) {
    var r = Toml.parse(text);
    assertFalse(r.hasErrors(), () -> r.errors() + "\n" + text);
    return r;
  }

  // --- containerd 2.x: drop-in + imports -----------------------------------------------------

  @Test
  void v3MainGetsAV3DropInAndAnImportsEntry() throws Exception {
    String before =
        "# my settings\nversion = 3\n\n[plugins.\"io.containerd.cri.v1.images\"]\n  snapshotter = \"overlayfs\"\n";
    writeMain(before);
    var out = config.install(V2_2, KATA);
    assertEquals(Strategy.DROP_IN, out.strategy().orElseThrow());
    assertEquals(ConfigSchema.V3, out.schema().orElseThrow());
    assertEquals(
        before.replace("version = 3\n", "version = 3\nimports = [\"" + DROP_IN + "\"]\n"), main());
    var drop = parse(Files.readString(onHost(DROP_IN)));
    assertEquals(3L, drop.getLong("version"));
    String t = "plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.kata-qemu";
    assertEquals("io.containerd.kata-qemu.v2", drop.getString(t + ".runtime_type"));
    assertEquals("/opt/kata/bin/containerd-shim-kata-qemu-v2", drop.getString(t + ".runtime_path"));
    assertEquals(
        "/opt/kata/current/share/defaults/kata-qemu.toml",
        drop.getString(t + ".options.ConfigPath"));
    assertEquals(Boolean.TRUE, drop.getBoolean(t + ".privileged_without_host_devices"));
    assertEquals(before, Files.readString(onHost(config.backup())));
  }

  @Test
  void v2MainOnContainerd2GetsAV2DropIn() throws Exception {
    writeMain("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"p:1\"\n");
    var out = config.install(V2_2, KATA);
    assertEquals(ConfigSchema.V2, out.schema().orElseThrow());
    var drop = parse(Files.readString(onHost(DROP_IN)));
    assertEquals(2L, drop.getLong("version"));
    assertEquals(
        "io.containerd.kata-qemu.v2",
        drop.getString(
            "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kata-qemu.runtime_type"));
  }

  @Test
  void installTwiceChangesNothing() throws Exception {
    writeMain("version = 3\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n");
    assertTrue(config.install(V2_2, KATA).changed());
    var once = snapshot();
    long mtime = Files.getLastModifiedTime(onHost(MAIN)).toMillis();
    var again = config.install(V2_2, KATA);
    assertFalse(again.changed(), again.changes().toString());
    assertEquals(once, snapshot());
    assertEquals(mtime, Files.getLastModifiedTime(onHost(MAIN)).toMillis());
  }

  @Test
  void uninstallRestoresTheMainFileByteForByteAndRemovesEverythingElse() throws Exception {
    for (String before :
        List.of(
            "version = 3\n",
            "version = 3\nimports = []\n",
            "version = 2 # keep\nimports = [\"/a.toml\"]  # theirs\n[grpc]\n  address = \"/s\"\n",
            "# no version\nroot = \"/r\"\n",
            "version = 3\r\n[plugins]\r\n")) {
      writeMain(before);
      if (before.contains("/a.toml")) {
        Files.writeString(onHost(Path.of("/a.toml")), "version = 2\n");
      }
      var expected = snapshot();
      config.install(V2_2, KATA);
      var out = config.uninstall();
      assertTrue(out.changed());
      assertEquals(before, main());
      assertEquals(expected, snapshot(), before);
      assertFalse(config.uninstall().changed(), "uninstall twice");
    }
  }

  @Test
  void aMissingMainFileIsCreatedAndDeletedAgain() throws Exception {
    var out = config.install(V2_2, KATA);
    assertEquals(
        List.of(Action.CREATED, Action.CREATED),
        out.changes().stream().map(ContainerdConfig.Change::action).toList());
    assertEquals("version = 3\nimports = [\"" + DROP_IN + "\"]\n", main());
    assertFalse(Files.exists(onHost(config.backup())), "nothing to back up");
    assertFalse(config.install(V2_2, KATA).changed());
    config.uninstall();
    assertEquals(Map.of(), snapshot());
  }

  @Test
  void aCreatedMainFileThatOthersEditedIsKept() throws Exception {
    config.install(V2_2, KATA);
    Files.writeString(onHost(MAIN), main() + "[grpc]\n  uid = 0\n");
    config.uninstall();
    assertEquals("version = 3\n[grpc]\n  uid = 0\n", main());
  }

  @Test
  void otherImportsAddedWhileInstalledStay() throws Exception {
    writeMain("version = 3\n");
    config.install(V2_2, KATA);
    writeMain(main().replace("]", ", \"/etc/containerd/other.toml\"]"));
    config.uninstall();
    assertEquals("version = 3\nimports = [\"/etc/containerd/other.toml\"]\n", main());
  }

  @Test
  void changedHandlersRewriteOnlyTheDropIn() throws Exception {
    writeMain("version = 3\n");
    config.install(V2_2, KATA);
    String mainText = main();
    var out =
        config.install(
            V2_2, List.of(RuntimeHandler.kata("kata-qemu"), RuntimeHandler.kata("kata-fc")));
    assertEquals(List.of(new ContainerdConfig.Change(DROP_IN, Action.UPDATED)), out.changes());
    assertEquals(mainText, main());
    assertTrue(Files.readString(onHost(DROP_IN)).contains("runtimes.kata-fc]"));
  }

  @Test
  void theBackupIsTakenOnceBeforeTheFirstChange() throws Exception {
    writeMain("version = 3\n");
    Files.setPosixFilePermissions(onHost(MAIN), PosixFilePermissions.fromString("rw-------"));
    config.install(V2_2, KATA);
    config.install(V2_2, List.of(RuntimeHandler.kata("kata-fc")));
    assertEquals("version = 3\n", Files.readString(onHost(config.backup())));
    assertEquals(
        "rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(onHost(MAIN))));
    try (Stream<Path> s = Files.list(onHost(Path.of("/etc/containerd")))) {
      assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temp files");
    }
  }

  // --- containerd 1.x: a block in the main file ----------------------------------------------

  @Test
  void containerd1GetsABlockInTheMainFileWithRuncKept() throws Exception {
    String before =
        "version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    sandbox_image = \"p:1\"\n";
    writeMain(before);
    var out = config.install(V1_6, KATA);
    assertEquals(Strategy.MAIN_FILE_BLOCK, out.strategy().orElseThrow());
    String after = main();
    assertTrue(after.startsWith(before + "\n" + ManagedBlock.BEGIN), after);
    var r = parse(after);
    String rt = "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.";
    assertEquals("io.containerd.kata-qemu.v2", r.getString(rt + "kata-qemu.runtime_type"));
    assertEquals("io.containerd.runc.v2", r.getString(rt + "runc.runtime_type"));
    assertEquals("p:1", r.getString("plugins.\"io.containerd.grpc.v1.cri\".sandbox_image"));
    assertFalse(Files.exists(onHost(DROP_IN)));
    assertFalse(config.install(V1_6, KATA).changed());
    config.uninstall();
    assertEquals(before, main());
    assertFalse(Files.exists(onHost(config.backup())));
  }

  @Test
  void containerd1KeepsTheUsersRuntimesAndAddsNoRunc() throws Exception {
    writeMain(
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
            + "  runtime_type = \"io.containerd.runc.v2\"\n"
            + "  [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n"
            + "    SystemdCgroup = true");
    config.install(V1_7, KATA);
    String after = main();
    assertFalse(after.contains(ContainerdConfig.RUNC_V2), after);
    assertEquals(
        Boolean.TRUE,
        parse(after)
            .getBoolean(
                "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options.SystemdCgroup"));
    config.uninstall();
    assertTrue(main().endsWith("SystemdCgroup = true"), "the missing final newline is restored");
  }

  @Test
  void containerd1WithNoMainFileCreatesAndRemovesIt() throws Exception {
    config.install(V1_6, KATA);
    assertTrue(main().startsWith("version = 2\n\n" + ManagedBlock.BEGIN), main());
    config.uninstall();
    assertEquals(Map.of(), snapshot());
  }

  @Test
  void containerd1WithAnEmptyMainFileAddsAndRemovesTheVersion() throws Exception {
    writeMain("# nothing yet\n");
    config.install(V1_6, KATA);
    assertEquals(2L, parse(main()).getLong("version"));
    config.uninstall();
    assertEquals("# nothing yet\n", main());
  }

  @Test
  void switchingFromContainerd1To2MovesTheHandlersToADropIn() throws Exception {
    String before =
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"p:1\"\n";
    writeMain(before);
    config.install(V1_7, KATA);
    config.install(V2_2, KATA);
    assertFalse(main().contains(ManagedBlock.BEGIN), main());
    assertTrue(Files.exists(onHost(DROP_IN)));
    config.install(V1_7, KATA);
    assertFalse(Files.exists(onHost(DROP_IN)));
    assertFalse(parse(main()).keySet().contains("imports"), main());
    config.uninstall();
    assertEquals(before, main());
  }

  // --- bad input: one typed error, no change -------------------------------------------------

  void assertRefused(Kind kind, ContainerdVersion v, String mainText) throws Exception {
    if (mainText != null) {
      writeMain(mainText);
    }
    var before = snapshot();
    var e = assertThrows(ContainerdConfigException.class, () -> config.install(v, KATA));
    assertEquals(kind, e.kind(), e.getMessage());
    assertEquals(before, snapshot(), "no file changed");
  }

  @Test
  void refusesBadInputWithoutTouchingAnything() throws Exception {
    assertRefused(Kind.UNPARSEABLE, V2_2, "version = 3\n[plugins\n");
    assertRefused(Kind.UNPARSEABLE, V1_6, "imports = [\n");
    assertRefused(Kind.BAD_IMPORTS, V2_2, "version = 3\nimports = \"/etc/containerd/x.toml\"\n");
    assertRefused(Kind.BAD_IMPORTS, V1_6, "version = 2\nimports = [1]\n");
    assertRefused(Kind.UNSUPPORTED_VERSION, V1_6, "version = 3\n");
    assertRefused(Kind.UNSUPPORTED_VERSION, V2_2, "version = 4\n");
    assertRefused(Kind.UNSUPPORTED_VERSION, V1_6, "root = \"/r\"\n");
    assertRefused(Kind.UNSUPPORTED_VERSION, new ContainerdVersion(1, 5, 9), "version = 2\n");
    assertRefused(
        Kind.CONFLICT,
        V1_6,
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.kata-qemu]\n"
            + "  runtime_type = \"x\"\n");
    assertRefused(
        Kind.CONFLICT,
        V1_6,
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  runtimes = {}\n");
  }

  @Test
  void refusesADropInPathHoldingSomeoneElsesFile() throws Exception {
    Files.writeString(onHost(DROP_IN), "version = 3\n");
    assertRefused(Kind.CONFLICT, V2_2, "version = 3\n");
    var e = assertThrows(ContainerdConfigException.class, () -> config.uninstall());
    assertEquals(Kind.CONFLICT, e.kind());
    assertEquals("version = 3\n", Files.readString(onHost(DROP_IN)));
  }

  @Test
  void containerd1RefusesWhenAnImportReplacesTheCriSection() throws Exception {
    Files.createDirectories(onHost(Path.of("/etc/containerd/conf.d")));
    Files.writeString(
        onHost(Path.of("/etc/containerd/conf.d/10-cri.toml")),
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"p:2\"\n");
    assertRefused(Kind.CONFLICT, V1_6, "version = 2\nimports = [\"conf.d/*.toml\"]\n");
  }

  @Test
  void refusesASymlinkedMainConfig() throws Exception {
    Files.writeString(onHost(Path.of("/etc/containerd/real.toml")), "version = 3\n");
    Files.createSymbolicLink(onHost(MAIN), Path.of("real.toml"));
    assertRefused(Kind.CONFLICT, V2_2, null);
    assertTrue(Files.isSymbolicLink(onHost(MAIN)));
  }

  @Test
  void uninstallRefusesAMalformedMainFile() throws Exception {
    writeMain("version = 3\n");
    config.install(V2_2, KATA);
    writeMain(main() + "[broken\n");
    var before = snapshot();
    var e = assertThrows(ContainerdConfigException.class, () -> config.uninstall());
    assertEquals(Kind.UNPARSEABLE, e.kind());
    assertEquals(before, snapshot());
  }

  @Test
  void uninstallWithNothingInstalledChangesNothing() throws Exception {
    assertFalse(config.uninstall().changed());
    writeMain("version = 2\n");
    assertFalse(config.uninstall().changed());
    assertEquals("version = 2\n", main());
  }

  @Test
  void handlerNamesMustBeDnsLabels() {
    assertThrows(IllegalArgumentException.class, () -> RuntimeHandler.kata("Kata_QEMU"));
    assertThrows(IllegalArgumentException.class, () -> RuntimeHandler.kata("a.b"));
  }
}
