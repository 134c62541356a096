package dev.kataoperator.installer.node;

import dev.kataoperator.installer.Log;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * The installer's own Node, through the pod's ServiceAccount token (fabric8, JDK HTTP client). It
 * reads that Node and patches the contract's labels and annotations on it, and reads its own
 * DaemonSet; RBAC and the operator's admission policy allow exactly that. Calls that fail for a
 * reason that can pass (the API server restarting with k3s, a conflict, a timeout) are retried for
 * a while; a refusal (403, 422) is not.
 */
public final class NodeReporter implements AutoCloseable {
  private final KubernetesClient client;
  private final String node;
  private final Duration retryFor;

  public NodeReporter(KubernetesClient client, String node, Duration retryFor) {
    this.client = client;
    this.node = node;
    this.retryFor = retryFor;
  }

  /** In a pod: the mounted ServiceAccount token (re-read as it rotates); else $KUBECONFIG. */
  public static NodeReporter connect(String node, Duration retryFor) {
    return new NodeReporter(new KubernetesClientBuilder().build(), node, retryFor);
  }

  public String nodeName() {
    return node;
  }

  /** The Node; a missing Node is an error (NODE_NAME is the pod's own node). */
  public Node get() throws NodeReportException {
    Node n = retrying("read Node " + node, () -> client.nodes().withName(node).get());
    if (n == null) {
      throw new NodeReportException("Node " + node + " does not exist; is NODE_NAME right?");
    }
    return n;
  }

  /** The runtime classes the Node's labels say work there. */
  public Set<String> labelledClasses() throws NodeReportException {
    Map<String, String> labels = get().getMetadata().getLabels();
    return NodeUpdates.labelledClasses(labels == null ? Map.of() : labels);
  }

  /** Applies {@code update} as one JSON merge patch. */
  public void apply(NodeUpdate update) throws NodeReportException {
    String patch = update.toMergePatch();
    retrying(
        "patch Node " + node,
        () -> client.nodes().withName(node).patch(PatchContext.of(PatchType.JSON_MERGE), patch));
    Log.debug("node " + node + ": " + patch);
  }

  /** The installer's DaemonSet; empty when it is gone (404). */
  public Optional<DaemonSet> daemonSet(String namespace, String name) throws NodeReportException {
    return Optional.ofNullable(
        retrying(
            "read DaemonSet " + namespace + "/" + name,
            () -> client.apps().daemonSets().inNamespace(namespace).withName(name).get()));
  }

  private <T> T retrying(String what, Callable<T> call) throws NodeReportException {
    long deadline = System.nanoTime() + retryFor.toNanos();
    long backoff = 250;
    while (true) {
      try {
        return call.call();
      } catch (KubernetesClientException e) {
        int code = e.getCode();
        boolean passing = code == 0 || code == 409 || code == 429 || code >= 500;
        if (!passing || System.nanoTime() > deadline) {
          throw new NodeReportException(
              "cannot " + what + ": " + (code == 0 ? "" : "HTTP " + code + ", ") + reason(e), e);
        }
        Log.debug("cannot " + what + " (" + reason(e) + "); trying again");
      } catch (Exception e) {
        throw new NodeReportException("cannot " + what + ": " + e, e);
      }
      try {
        Thread.sleep(backoff);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        throw new NodeReportException("interrupted while trying to " + what, ie);
      }
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  private static String reason(KubernetesClientException e) {
    if (e.getStatus() != null && e.getStatus().getMessage() != null) {
      return e.getStatus().getMessage();
    }
    Throwable c = e;
    while (c.getCause() != null) {
      c = c.getCause();
    }
    return c == e ? String.valueOf(e.getMessage()) : e.getMessage() + " (" + c + ")";
  }

  @Override
  public void close() {
    client.close();
  }
}
