package dev.kataoperator.installer.node;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeSelectorRequirement;
import io.fabric8.kubernetes.api.model.NodeSelectorTerm;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Whether the installer's DaemonSet still wants a pod on a node: the one question that decides,
 * when the pod is stopped, between leaving the node installed (a rolling update, a restart, an
 * eviction) and reverting it (the node was deselected, or the DaemonSet is gone). Evaluated as the
 * scheduler does for a DaemonSet pod: the template's nodeSelector and its required node affinity
 * terms (matchExpressions on labels, matchFields on metadata.name). Taints are not considered: a
 * node that is cordoned or tainted is not a node the KataConfig stopped selecting.
 */
public final class DaemonSetSelection {
  private DaemonSetSelection() {}

  /** Why the node is no longer selected, or empty when it still is. */
  public static Optional<String> notSelected(Optional<DaemonSet> ds, Node node) {
    if (ds.isEmpty()) {
      return Optional.of("the installer's DaemonSet is gone");
    }
    if (ds.get().getMetadata().getDeletionTimestamp() != null) {
      return Optional.of("the installer's DaemonSet is being deleted");
    }
    PodSpec spec = ds.get().getSpec().getTemplate().getSpec();
    Map<String, String> labels =
        Optional.ofNullable(node.getMetadata().getLabels()).orElse(Map.of());
    String name = node.getMetadata().getName();
    Map<String, String> selector = Optional.ofNullable(spec.getNodeSelector()).orElse(Map.of());
    for (var e : selector.entrySet()) {
      if (!e.getValue().equals(labels.get(e.getKey()))) {
        return Optional.of(
            "the DaemonSet's nodeSelector "
                + e.getKey()
                + "="
                + e.getValue()
                + " no longer matches");
      }
    }
    List<NodeSelectorTerm> terms =
        spec.getAffinity() == null
                || spec.getAffinity().getNodeAffinity() == null
                || spec.getAffinity()
                        .getNodeAffinity()
                        .getRequiredDuringSchedulingIgnoredDuringExecution()
                    == null
            ? List.of()
            : spec.getAffinity()
                .getNodeAffinity()
                .getRequiredDuringSchedulingIgnoredDuringExecution()
                .getNodeSelectorTerms();
    if (!terms.isEmpty() && terms.stream().noneMatch(t -> matches(t, labels, name))) {
      return Optional.of("the DaemonSet's node affinity no longer matches this node");
    }
    return Optional.empty();
  }

  /** A term matches when all its expressions and fields do (an empty term matches nothing). */
  static boolean matches(NodeSelectorTerm t, Map<String, String> labels, String name) {
    List<NodeSelectorRequirement> exprs =
        Optional.ofNullable(t.getMatchExpressions()).orElse(List.of());
    List<NodeSelectorRequirement> fields =
        Optional.ofNullable(t.getMatchFields()).orElse(List.of());
    if (exprs.isEmpty() && fields.isEmpty()) {
      return false;
    }
    for (NodeSelectorRequirement r : exprs) {
      if (!matches(r, labels.get(r.getKey()), labels.containsKey(r.getKey()))) {
        return false;
      }
    }
    for (NodeSelectorRequirement r : fields) {
      boolean isName = "metadata.name".equals(r.getKey());
      if (!matches(r, isName ? name : null, isName)) {
        return false;
      }
    }
    return true;
  }

  private static boolean matches(NodeSelectorRequirement r, String value, boolean present) {
    List<String> values = Optional.ofNullable(r.getValues()).orElse(List.of());
    return switch (r.getOperator()) {
      case "In" -> present && values.contains(value);
      case "NotIn" -> !present || !values.contains(value);
      case "Exists" -> present;
      case "DoesNotExist" -> !present;
      case "Gt" -> present && compare(value, values) > 0;
      case "Lt" -> present && compare(value, values) < 0;
      default -> false;
    };
  }

  private static int compare(String value, List<String> values) {
    try {
      return Long.compare(Long.parseLong(value), Long.parseLong(values.getFirst()));
    } catch (RuntimeException e) {
      return 0;
    }
  }
}
