package dev.kataoperator.e2e.cluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The operator and installer images as OCI archives: the ones the images module's tests built in
 * this run (images/target/images), else built here with the same scripts `make images` runs.
 */
final class ImagesForTests {
  private static final Duration BUILD_LIMIT = Duration.ofMinutes(20);

  private ImagesForTests() {}

  static Path installer() throws Exception {
    Path built = Tools.repoRoot().resolve("images/target/images/runtime-node-installer.oci.tar");
    if (Files.isRegularFile(built)) {
      return built;
    }
    Path out = out();
    Path payload = out.resolve("payload");
    Path guest =
        Path.of(
            System.getenv()
                .getOrDefault(
                    "KATA_GUEST_DIR", Tools.repoRoot().resolve("build/guest").toString()));
    script(
        "shim/payload/build-payload.sh",
        payload.toString(),
        KataOnKubernetesTest.VERSION + "-test",
        guest.toString(),
        Tools.repoRoot().resolve("build/virtiofsd/virtiofsd").toString());
    Path archive = out.resolve("runtime-node-installer.oci.tar");
    script(
        "images/build-installer-image.sh",
        archive.toString(),
        KataOnKubernetesTest.VERSION,
        payload.toString());
    return archive;
  }

  static Path operator() throws Exception {
    Path built = Tools.repoRoot().resolve("images/target/images/kata-operator.oci.tar");
    if (Files.isRegularFile(built)) {
      return built;
    }
    script("images/build-operator-image.sh", out().toString(), KataOnKubernetesTest.VERSION);
    return out().resolve("kata-operator.oci.tar");
  }

  private static Path out() throws Exception {
    return Files.createDirectories(Tools.repoRoot().resolve("e2e/target/images"));
  }

  private static void script(String script, String... args) throws Exception {
    var cmd =
        new java.util.ArrayList<String>(
            List.of("bash", Tools.repoRoot().resolve(script).toString()));
    cmd.addAll(List.of(args));
    Exec r = Exec.run(BUILD_LIMIT, cmd);
    System.out.print(r.err());
    r.ok();
  }
}
