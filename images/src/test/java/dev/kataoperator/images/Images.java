package dev.kataoperator.images;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the two images once per test run with the scripts in images/ (what `make images` runs),
 * from the reactor's packaged operator and installer and a payload made from the built guest.
 */
final class Images {
  static final Path REPO =
      Path.of(System.getProperty("kata.repo", "..")).toAbsolutePath().normalize();
  static final String VERSION = System.getProperty("kata.project.version");
  static final Path OUT = Path.of(System.getProperty("kata.images.out", "target/images"));
  static final String OPERATOR = "localhost/kata-operator/operator:" + VERSION;
  static final String INSTALLER = "localhost/kata-operator/runtime-node-installer:" + VERSION;
  static final ObjectMapper JSON = new ObjectMapper();

  private static Path operator;
  private static Path installer;

  private Images() {}

  static synchronized Path operator() throws Exception {
    if (operator == null) {
      script(
          List.of(
              "bash",
              REPO.resolve("images/build-operator-image.sh").toString(),
              OUT.toString(),
              VERSION));
      operator = OUT.resolve("kata-operator.oci.tar");
    }
    return operator;
  }

  static synchronized Path installer() throws Exception {
    if (installer == null) {
      Path guest =
          Path.of(
              System.getenv()
                  .getOrDefault("KATA_GUEST_DIR", REPO.resolve("build/guest").toString()));
      Path virtiofsd = REPO.resolve("build/virtiofsd/virtiofsd");
      if (!Files.exists(guest.resolve("vmlinux")) || !Files.isExecutable(virtiofsd)) {
        throw new IllegalStateException(
            "the payload needs the guest and virtiofsd: run 'make guest virtiofsd' (make test does)");
      }
      Path payload = OUT.resolve("payload");
      script(
          List.of(
              "bash",
              REPO.resolve("shim/payload/build-payload.sh").toString(),
              payload.toString(),
              VERSION + "-test",
              guest.toString(),
              virtiofsd.toString()));
      installer = OUT.resolve("runtime-node-installer.oci.tar");
      script(
          List.of(
              "bash",
              REPO.resolve("images/build-installer-image.sh").toString(),
              installer.toString(),
              VERSION,
              payload.toString()));
    }
    return installer;
  }

  private static void script(List<String> cmd) throws Exception {
    Files.createDirectories(OUT);
    // Generous: jlink and compression on a loaded 2-core machine.
    Containerd.run(cmd, 900).ok();
  }

  /** The image's OCI config (the "config" object: User, Entrypoint, Labels, ...). */
  static JsonNode config(Path archive) throws Exception {
    JsonNode index = JSON.readTree(entry(archive, "index.json"));
    String manifest = index.at("/manifests/0/digest").asText();
    JsonNode m = JSON.readTree(entry(archive, blob(manifest)));
    return JSON.readTree(entry(archive, blob(m.at("/config/digest").asText())));
  }

  /** Sum of the uncompressed layer sizes, in bytes: what the image takes on a node. */
  static long unpackedSize(Path archive) throws Exception {
    JsonNode index = JSON.readTree(entry(archive, "index.json"));
    JsonNode m = JSON.readTree(entry(archive, blob(index.at("/manifests/0/digest").asText())));
    long total = 0;
    for (JsonNode layer : m.path("layers")) {
      String sh =
          "tar -xOf '"
              + archive
              + "' '"
              + blob(layer.path("digest").asText())
              + "' | gzip -dc | wc -c";
      total += Long.parseLong(Containerd.run(List.of("sh", "-c", sh), 300).ok().out().strip());
    }
    return total;
  }

  private static String blob(String digest) {
    return "blobs/" + digest.replace(':', '/');
  }

  private static String entry(Path archive, String name) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("tar", "-xOf", archive.toString(), name));
    return Containerd.run(cmd, 120).ok().out();
  }
}
