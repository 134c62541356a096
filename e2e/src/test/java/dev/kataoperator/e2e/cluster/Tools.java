package dev.kataoperator.e2e.cluster;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the source tree and the test tools are. */
final class Tools {
  static final String KUBE_VERSION = "1.35.4";

  private Tools() {}

  /** The source tree: KATA_REPO_ROOT (set by the e2e POM), else the parent of the e2e module. */
  static Path repoRoot() {
    String env = System.getenv("KATA_REPO_ROOT");
    return (env != null ? Path.of(env) : Path.of("..")).toAbsolutePath().normalize();
  }

  /** The directory of e2e/kube/build-binaries.sh's output (KUBE_BIN_DIR, as the scripts read). */
  static Path kubeBinDir() {
    String dir = System.getenv("KUBE_BIN_DIR");
    if (dir != null) {
      return Path.of(dir);
    }
    String base = System.getenv("KUBE_API_TEST_DIR");
    Path root =
        base != null ? Path.of(base) : Path.of(System.getProperty("user.home"), ".kubeapitest");
    return root.resolve("k8s").resolve(KUBE_VERSION + "-linux-amd64");
  }

  static Path kubectl() {
    Path k = kubeBinDir().resolve("kubectl");
    if (!Files.isExecutable(k)) {
      throw new IllegalStateException("no kubectl at " + k + ": run 'make setup'");
    }
    return k;
  }
}
