package dev.kataoperator.e2e.cluster;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The single-node cluster of {@code e2e/cluster/up} and {@code down} on this machine: upstream
 * Kubernetes binaries, etcd, containerd 2.2 and CNI plugins, all under one state dir ({@code
 * -Dkata.e2e.cluster.dir}, default /var/lib/kata-e2e-cluster). Needs root.
 */
public final class LocalCluster implements Cluster {
  /** The system property naming the state dir. */
  public static final String DIR_PROPERTY = "kata.e2e.cluster.dir";

  public static final Path DEFAULT_DIR = Path.of("/var/lib/kata-e2e-cluster");

  // About 30 s when the binaries are built; this machine can be several times slower when
  // loaded, and up builds the images on first use.
  private static final Duration UP_LIMIT = Duration.ofMinutes(10);
  private static final Duration DOWN_LIMIT = Duration.ofMinutes(5);
  private static final Duration CTR_LIMIT = Duration.ofMinutes(3);

  private final Path state;
  private Map<String, String> env = Map.of();
  private KubernetesClient client;

  public LocalCluster(Path state) {
    if (!state.isAbsolute()) {
      throw new IllegalArgumentException("state dir must be absolute: " + state);
    }
    this.state = state.normalize();
  }

  static LocalCluster fromProperties() {
    return new LocalCluster(Path.of(System.getProperty(DIR_PROPERTY, DEFAULT_DIR.toString())));
  }

  public Path stateDir() {
    return state;
  }

  @Override
  public void up() throws Exception {
    Exec r = Exec.run(UP_LIMIT, List.of("bash", script("up"), state.toString()));
    System.out.print(r.err()); // up's phases and their durations
    if (r.exit() != 0) {
      throw new IllegalStateException(
          "e2e/cluster/up " + state + " failed with status " + r.exit() + ":\n" + r.err());
    }
    env = readEnv(state.resolve("cluster.env"));
    client =
        new KubernetesClientBuilder()
            .withConfig(Config.fromKubeconfig(Files.readString(kubeconfig())))
            .build();
  }

  @Override
  public void down() throws IOException {
    if (client != null) {
      client.close();
      client = null;
    }
    Exec r = Exec.run(DOWN_LIMIT, List.of("bash", script("down"), state.toString()));
    System.out.print(r.err()); // what down found and what is left
    env = Map.of();
    if (r.exit() != 0) {
      throw new IllegalStateException(
          "e2e/cluster/down " + state + " failed with status " + r.exit() + ":\n" + r.err());
    }
  }

  @Override
  public KubernetesClient client() {
    if (client == null) {
      throw new IllegalStateException("the local cluster is not up");
    }
    return client;
  }

  @Override
  public Path kubeconfig() {
    return Path.of(value("KUBECONFIG"));
  }

  @Override
  public String nodeName() {
    return value("NODE_NAME");
  }

  @Override
  public void importImage(Path archive) throws Exception {
    if (!Files.isRegularFile(archive)) {
      throw new IllegalArgumentException("no image archive at " + archive);
    }
    Exec.run(
            CTR_LIMIT,
            List.of(
                value("CTR"),
                "--address",
                value("CONTAINERD_ADDRESS"),
                "-n",
                "k8s.io",
                "images",
                "import",
                archive.toString()))
        .ok();
  }

  @Override
  public void tagImage(String source, String target) throws Exception {
    Exec.run(
            CTR_LIMIT,
            List.of(
                value("CTR"),
                "--address",
                value("CONTAINERD_ADDRESS"),
                "-n",
                "k8s.io",
                "images",
                "tag",
                "--force",
                source,
                target))
        .ok();
  }

  @Override
  public String containerdConfigPath() {
    return value("CONTAINERD_CONFIG");
  }

  /** The directory for containerd drop-ins (empty at start; nothing imports from it yet). */
  public String containerdDropInDir() {
    return value("CONTAINERD_CONF_D");
  }

  @Override
  public Optional<List<String>> containerdRestartCommand() {
    return Optional.of(List.of(value("CONTAINERD_RESTART_COMMAND")));
  }

  @Override
  public long hostNamespacesPid() {
    return Long.parseLong(value("HOST_NS_PID"));
  }

  /** A value of the cluster.env that up wrote. */
  public String value(String key) {
    String v = env.get(key);
    if (v == null) {
      throw new IllegalStateException(
          env.isEmpty() ? "the local cluster is not up" : "cluster.env has no " + key);
    }
    return v;
  }

  private static String script(String name) {
    return Tools.repoRoot().resolve("e2e/cluster").resolve(name).toString();
  }

  private static Map<String, String> readEnv(Path file) throws IOException {
    var m = new LinkedHashMap<String, String>();
    for (String line : Files.readAllLines(file)) {
      int eq = line.indexOf('=');
      if (!line.startsWith("#") && eq > 0) {
        m.put(line.substring(0, eq), line.substring(eq + 1));
      }
    }
    return Map.copyOf(m);
  }
}
