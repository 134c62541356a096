package dev.kataoperator.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The installer image: OCI config, size, and its entrypoint run by containerd 1.6 and 2.2. */
@Tag("containerd")
class InstallerImageTest {
  static final long MAX_BYTES = 250L * 1024 * 1024;

  @Test
  void configFollowsOciConventions() throws Exception {
    Path archive = Images.installer();
    JsonNode c = Images.config(archive).path("config");
    assertEquals("0:0", c.path("User").asText(), "a privileged node installer runs as root");
    assertEquals(
        List.of("/installer/bin/runtime-node-installer"),
        Images.JSON.convertValue(c.path("Entrypoint"), List.class));
    JsonNode labels = c.path("Labels");
    assertEquals(Images.VERSION, labels.path("org.opencontainers.image.version").asText());
    assertEquals("runtime-node-installer", labels.path("org.opencontainers.image.title").asText());
    assertTrue(
        labels.path("org.opencontainers.image.revision").asText().matches("[0-9a-f]{40}|unknown"));
    assertTrue(c.path("Env").toString().contains("KATA_PAYLOAD_DIR=/payload"), c.toString());

    long unpacked = Images.unpackedSize(archive);
    System.out.printf(
        "installer image: %d MB archive, %d MB unpacked%n",
        Files.size(archive) >> 20, unpacked >> 20);
    assertTrue(unpacked <= MAX_BYTES, "unpacked " + (unpacked >> 20) + " MB > 250 MB");
  }

  @ParameterizedTest
  @EnumSource(Containerd.Version.class)
  void importsAndRunsCheck(Containerd.Version version, @TempDir Path dir) throws Exception {
    Path archive = Images.installer();
    try (var containerd = Containerd.start(version, dir.resolve("containerd"))) {
      containerd.ctr("image", "import", archive.toString()).ok();
      assertTrue(
          containerd
              .ctr("image", "ls", "-q")
              .ok()
              .out()
              .lines()
              .toList()
              .contains(Images.INSTALLER),
          "imported as " + Images.INSTALLER);

      // Its entrypoint with `check`, privileged as the DaemonSet runs it.
      var check =
          containerd.ctr(
              "run",
              "--rm",
              "--privileged",
              "--env",
              "KATA_VIRTUALIZATION_POLICY=AllowSoftwareEmulation",
              Images.INSTALLER,
              "check-" + version.name().toLowerCase(),
              "/installer/bin/runtime-node-installer",
              "check");
      JsonNode verdict = Images.JSON.readTree(check.out());
      String v = verdict.path("verdict").asText();
      assertTrue(Set.of("kvm", "software-emulation", "unsupported").contains(v), check.out());
      assertEquals(v.equals("unsupported") ? 3 : 0, check.exit(), check.err());
      assertEquals("AllowSoftwareEmulation", verdict.path("policy").asText());
      assertTrue(verdict.path("tun").asBoolean(), "privileged: /dev/net/tun is there");

      // The payload is whole (its manifest verifies) and its JRE runs.
      var payload =
          containerd.ctr(
              "run",
              "--rm",
              Images.INSTALLER,
              "payload-" + version.name().toLowerCase(),
              "sh",
              "-c",
              "cd /payload && sha256sum -c -s MANIFEST.sha256 && readlink current"
                  + " && wc -l < MANIFEST.sha256 && current/jre/bin/java -version 2>&1");
      assertEquals(0, payload.exit(), payload.err() + payload.out());
      List<String> lines = payload.out().lines().toList();
      assertEquals("versions/" + Images.VERSION + "-test", lines.get(0));
      assertTrue(
          Integer.parseInt(lines.get(1).strip()) > 50, "files in the manifest: " + lines.get(1));
      assertTrue(lines.get(2).contains("\"25"), payload.out());

      // Without arguments it runs the node flow, which outside the DaemonSet has no node:
      // a usage error (exit 2) that names the missing variable.
      var usage =
          containerd.ctr("run", "--rm", Images.INSTALLER, "usage-" + version.name().toLowerCase());
      assertEquals(2, usage.exit(), usage.out() + usage.err());
      assertTrue((usage.out() + usage.err()).contains("NODE_NAME"), usage.out() + usage.err());
    }
  }
}
