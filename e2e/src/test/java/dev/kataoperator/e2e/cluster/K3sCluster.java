package dev.kataoperator.e2e.cluster;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.testcontainers.k3s.K3sContainer;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

/**
 * k3s in a container (Testcontainers' {@link K3sContainer}): for machines with Docker and a
 * reachable registry, which these are not (docs/e2e.md). The image is {@code -Dkata.e2e.k3s.image},
 * default {@value #DEFAULT_IMAGE}, the Kubernetes version the local cluster runs.
 */
public final class K3sCluster implements Cluster {
  public static final String IMAGE_PROPERTY = "kata.e2e.k3s.image";
  public static final String DEFAULT_IMAGE = "rancher/k3s:v1.35.4-k3s1";

  /** k3s writes its containerd config here (from config.toml.tmpl when that exists). */
  static final String CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml";

  private final DockerImageName image;
  private K3sContainer k3s;
  private KubernetesClient client;
  private Path kubeconfig;

  public K3sCluster(DockerImageName image) {
    this.image = image;
  }

  static K3sCluster fromProperties() {
    return new K3sCluster(
        DockerImageName.parse(System.getProperty(IMAGE_PROPERTY, DEFAULT_IMAGE))
            .asCompatibleSubstituteFor("rancher/k3s"));
  }

  @Override
  public void up() throws Exception {
    k3s = new K3sContainer(image);
    k3s.start();
    kubeconfig = Files.createTempFile("k3s-", ".kubeconfig");
    Files.writeString(kubeconfig, k3s.getKubeConfigYaml());
    client =
        new KubernetesClientBuilder()
            .withConfig(Config.fromKubeconfig(k3s.getKubeConfigYaml()))
            .build();
  }

  @Override
  public void down() throws IOException {
    if (client != null) {
      client.close();
      client = null;
    }
    if (k3s != null) {
      k3s.stop();
      k3s = null;
    }
    if (kubeconfig != null) {
      Files.deleteIfExists(kubeconfig);
      kubeconfig = null;
    }
  }

  @Override
  public KubernetesClient client() {
    if (client == null) {
      throw new IllegalStateException("the k3s cluster is not up");
    }
    return client;
  }

  @Override
  public Path kubeconfig() {
    if (kubeconfig == null) {
      throw new IllegalStateException("the k3s cluster is not up");
    }
    return kubeconfig;
  }

  @Override
  public String nodeName() {
    return client().nodes().list().getItems().getFirst().getMetadata().getName();
  }

  @Override
  public void importImage(Path archive) throws Exception {
    if (!Files.isRegularFile(archive)) {
      throw new IllegalArgumentException("no image archive at " + archive);
    }
    String inside = "/tmp/kata-e2e-import.tar";
    k3s.copyFileToContainer(MountableFile.forHostPath(archive), inside);
    // The k3s image's ctr talks to k3s's own containerd.
    var r = k3s.execInContainer("ctr", "-n", "k8s.io", "images", "import", inside);
    k3s.execInContainer("rm", "-f", inside);
    if (r.getExitCode() != 0) {
      throw new IllegalStateException(
          "ctr images import " + archive + " in k3s failed: " + r.getStderr() + r.getStdout());
    }
  }

  @Override
  public void tagImage(String source, String target) throws Exception {
    var r = k3s.execInContainer("ctr", "-n", "k8s.io", "images", "tag", "--force", source, target);
    if (r.getExitCode() != 0) {
      throw new IllegalStateException("ctr images tag in k3s failed: " + r.getStderr());
    }
  }

  @Override
  public String containerdConfigPath() {
    return CONTAINERD_CONFIG;
  }

  /**
   * None: k3s runs containerd as its own child and rewrites its config from a template at start, so
   * the way to change and reload it is a config.toml.tmpl and a restart of k3s itself.
   */
  @Override
  public Optional<List<String>> containerdRestartCommand() {
    return Optional.empty();
  }
}
