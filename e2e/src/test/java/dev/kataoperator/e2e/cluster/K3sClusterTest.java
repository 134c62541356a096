package dev.kataoperator.e2e.cluster;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The {@link ClusterSmoke} scenarios on k3s in a container, with {@code -Dkata.e2e.cluster=k3s} on
 * a machine with Docker and a registry (docs/e2e.md); skipped otherwise.
 */
@Tag("cluster")
@EnabledIfSystemProperty(named = Cluster.PROPERTY, matches = "k3s")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class K3sClusterTest extends ClusterSmoke {
  private Cluster cluster;

  @Override
  Cluster cluster() {
    return cluster;
  }

  @BeforeAll
  void up() throws Exception {
    Path images = Tools.repoRoot().resolve("build/images");
    Exec.run(
            Duration.ofMinutes(5),
            List.of(
                "bash",
                Tools.repoRoot().resolve("e2e/images/build-busybox.sh").toString(),
                images.toString()))
        .ok();
    cluster = Cluster.create();
    cluster.up();
    // The smoke pods use busybox by name; k3s could pull it, but the tests must not depend on it.
    cluster.importImage(images.resolve("busybox.tar"));
  }

  @AfterAll
  void down() throws Exception {
    if (cluster != null) {
      cluster.down();
    }
  }
}
