package dev.kataoperator.e2e.cluster;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A single-node Kubernetes cluster for the end-to-end tests, with what the node installer needs to
 * know about the node's containerd. Pick one with {@code -Dkata.e2e.cluster=local|k3s} ({@link
 * #create()}); docs/e2e.md says how each is made.
 */
public interface Cluster extends AutoCloseable {
  /** The system property that selects the implementation. */
  String PROPERTY = "kata.e2e.cluster";

  /** The cluster {@link #PROPERTY} names: {@code local} (the default) or {@code k3s}. */
  static Cluster create() {
    String kind = System.getProperty(PROPERTY, "local");
    return switch (kind) {
      case "local" -> LocalCluster.fromProperties();
      case "k3s" -> K3sCluster.fromProperties();
      default ->
          throw new IllegalArgumentException(
              "-D"
                  + PROPERTY
                  + "="
                  + kind
                  + " is not a cluster this project knows: use local or k3s");
    };
  }

  /** Starts the cluster and returns once its node is Ready. */
  void up() throws Exception;

  /** Stops the cluster and removes what it made; fails if something is left behind. */
  void down() throws IOException;

  /** A client with cluster-admin rights; valid between {@link #up()} and {@link #down()}. */
  KubernetesClient client();

  /** A kubeconfig file with cluster-admin rights, for kubectl and other tools. */
  Path kubeconfig();

  /** The one node's name. */
  String nodeName();

  /**
   * Imports an image archive (docker-archive or OCI archive, as {@code ctr images import} reads)
   * into the node containerd's {@code k8s.io} namespace, where the kubelet finds it: nothing can be
   * pulled here, so pods use {@code imagePullPolicy: IfNotPresent} with imported images.
   */
  void importImage(Path archive) throws Exception;

  /** Gives an image in the node's {@code k8s.io} namespace a second name (a new "release"). */
  void tagImage(String source, String target) throws Exception;

  /** The path of containerd's main config file on the node, which the installer patches. */
  String containerdConfigPath();

  /**
   * The command that restarts the node's containerd with its config, as the installer's {@code
   * command} restart method runs it on the node (through {@code nsenter -t <hostNamespacesPid> -m
   * -u -i -n -p --}); empty where containerd cannot be restarted on its own.
   */
  Optional<List<String>> containerdRestartCommand();

  /**
   * The process whose namespaces a privileged hostPID pod enters ({@code nsenter -t}) to act on the
   * node: 1 on a real node. Where PID 1 forbids that (these machines, docs/e2e.md), a process of
   * the node's own that lives in the host's namespaces.
   */
  default long hostNamespacesPid() {
    return 1;
  }

  /** kubectl with {@link #kubeconfig()}: the binary e2e/kube/build-binaries.sh built. */
  default Exec kubectl(Duration limit, String... args) throws Exception {
    var cmd = new ArrayList<String>();
    cmd.add(Tools.kubectl().toString());
    cmd.add("--kubeconfig");
    cmd.add(kubeconfig().toString());
    cmd.add("--request-timeout=" + limit.toSeconds() + "s");
    cmd.addAll(List.of(args));
    return Exec.run(limit.plusSeconds(10), cmd);
  }

  @Override
  default void close() throws IOException {
    down();
  }
}
