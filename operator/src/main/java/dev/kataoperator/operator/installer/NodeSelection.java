package dev.kataoperator.operator.installer;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAffinity;
import io.fabric8.kubernetes.api.model.NodeAffinityBuilder;
import io.fabric8.kubernetes.api.model.NodeSelectorRequirement;
import io.fabric8.kubernetes.api.model.NodeSelectorRequirementBuilder;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Which nodes a KataConfig selects: the same answer for the DaemonSet's node affinity (where the
 * scheduler puts installers) and for the operator's own count (which nodes it waits for).
 */
public final class NodeSelection {
  private NodeSelection() {}

  public static final String OS_LABEL = "kubernetes.io/os";

  /** Taints the DaemonSet controller tolerates on its own for every DaemonSet pod. */
  private static final Set<String> DAEMONSET_TOLERATED =
      Set.of(
          "node.kubernetes.io/not-ready",
          "node.kubernetes.io/unreachable",
          "node.kubernetes.io/disk-pressure",
          "node.kubernetes.io/memory-pressure",
          "node.kubernetes.io/pid-pressure",
          "node.kubernetes.io/unschedulable",
          "node.kubernetes.io/network-unavailable");

  /** Whether an installer pod would run on {@code node}. */
  public static boolean selects(LabelSelector selector, List<Toleration> tolerations, Node node) {
    Map<String, String> labels = node.getMetadata().getLabels();
    Map<String, String> l = labels == null ? Map.of() : labels;
    if (!"linux".equals(l.get(OS_LABEL))) {
      return false;
    }
    return matches(selector, l) && tolerates(tolerations, node);
  }

  /** LabelSelector semantics: matchLabels and every matchExpression must hold. */
  public static boolean matches(LabelSelector selector, Map<String, String> labels) {
    if (selector == null) {
      return true;
    }
    if (selector.getMatchLabels() != null) {
      for (var e : selector.getMatchLabels().entrySet()) {
        if (!e.getValue().equals(labels.get(e.getKey()))) {
          return false;
        }
      }
    }
    if (selector.getMatchExpressions() != null) {
      for (LabelSelectorRequirement r : selector.getMatchExpressions()) {
        String v = labels.get(r.getKey());
        List<String> values = r.getValues() == null ? List.of() : r.getValues();
        boolean ok =
            switch (r.getOperator()) {
              case "In" -> v != null && values.contains(v);
              case "NotIn" -> v == null || !values.contains(v);
              case "Exists" -> labels.containsKey(r.getKey());
              case "DoesNotExist" -> !labels.containsKey(r.getKey());
              default -> false;
            };
        if (!ok) {
          return false;
        }
      }
    }
    return true;
  }

  /** Whether the tolerations (plus the DaemonSet defaults) tolerate every scheduling taint. */
  public static boolean tolerates(List<Toleration> tolerations, Node node) {
    List<Taint> taints = node.getSpec() == null ? null : node.getSpec().getTaints();
    if (taints == null) {
      return true;
    }
    List<Toleration> ts = tolerations == null ? List.of() : tolerations;
    for (Taint t : taints) {
      if ("PreferNoSchedule".equals(t.getEffect()) || DAEMONSET_TOLERATED.contains(t.getKey())) {
        continue;
      }
      if (ts.stream().noneMatch(tol -> tolerates(tol, t))) {
        return false;
      }
    }
    return true;
  }

  static boolean tolerates(Toleration tol, Taint taint) {
    if (tol.getEffect() != null
        && !tol.getEffect().isEmpty()
        && !tol.getEffect().equals(taint.getEffect())) {
      return false;
    }
    if (tol.getKey() == null || tol.getKey().isEmpty()) {
      return "Exists".equals(tol.getOperator());
    }
    if (!tol.getKey().equals(taint.getKey())) {
      return false;
    }
    if ("Exists".equals(tol.getOperator())) {
      return true;
    }
    return Objects.equals(
        tol.getValue() == null ? "" : tol.getValue(),
        taint.getValue() == null ? "" : taint.getValue());
  }

  /**
   * The node affinity that makes the scheduler pick exactly the selected nodes: one term with the
   * OS requirement, matchLabels as In, and matchExpressions as they are.
   */
  public static NodeAffinity nodeAffinity(LabelSelector selector) {
    List<NodeSelectorRequirement> reqs = new ArrayList<>();
    reqs.add(requirement(OS_LABEL, "In", List.of("linux")));
    if (selector != null) {
      if (selector.getMatchLabels() != null) {
        selector.getMatchLabels().entrySet().stream()
            .sorted(Map.Entry.comparingByKey())
            .forEach(e -> reqs.add(requirement(e.getKey(), "In", List.of(e.getValue()))));
      }
      if (selector.getMatchExpressions() != null) {
        for (LabelSelectorRequirement r : selector.getMatchExpressions()) {
          reqs.add(requirement(r.getKey(), r.getOperator(), r.getValues()));
        }
      }
    }
    return new NodeAffinityBuilder()
        .withNewRequiredDuringSchedulingIgnoredDuringExecution()
        .addNewNodeSelectorTerm()
        .withMatchExpressions(reqs)
        .endNodeSelectorTerm()
        .endRequiredDuringSchedulingIgnoredDuringExecution()
        .build();
  }

  private static NodeSelectorRequirement requirement(String key, String op, List<String> values) {
    var b = new NodeSelectorRequirementBuilder().withKey(key).withOperator(op);
    if (values != null && !values.isEmpty() && !op.equals("Exists") && !op.equals("DoesNotExist")) {
      b.withValues(values);
    }
    return b.build();
  }
}
