package dev.kataoperator.operator.status;

import dev.kataoperator.operator.api.v1alpha1.KataConfigStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus.Phase;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Collectors;

/** The Kubernetes Events one status change deserves. Pure. */
public final class Transitions {
  private Transitions() {}

  /** One Event to emit. */
  public record Event(boolean warning, String reason, String message) {}

  public static List<Event> between(KataConfigStatus before, KataConfigStatus after) {
    KataConfigStatus b = before == null ? new KataConfigStatus() : before;
    List<Event> events = new ArrayList<>();
    for (Condition c : after.conditions) {
      Optional<Condition> old = Conditions.find(b.conditions, c.getType());
      boolean changed =
          old.map(o -> !Objects.equals(o.getStatus(), c.getStatus())).orElse(true)
              || old.map(o -> !Objects.equals(o.getReason(), c.getReason())).orElse(true);
      if (!changed) {
        continue;
      }
      boolean isTrue = "True".equals(c.getStatus());
      // Only what someone wants to hear about: Ready either way, Degraded and Progressing
      // turning on, and any change of reason while on.
      boolean warn = KataConfigStatus.DEGRADED.equals(c.getType()) && isTrue;
      if (KataConfigStatus.READY.equals(c.getType()) || isTrue) {
        events.add(new Event(warn, c.getReason(), c.getType() + ": " + c.getMessage()));
      }
    }
    Map<String, NodeStatus> old =
        b.nodes.stream().collect(Collectors.toMap(n -> n.name, Function.identity(), (x, y) -> x));
    for (NodeStatus n : after.nodes) {
      NodeStatus o = old.get(n.name);
      if (o != null && o.phase == n.phase) {
        continue;
      }
      if (o == null && n.phase == Phase.Pending) {
        continue;
      }
      String msg =
          "node "
              + n.name
              + ": "
              + n.phase
              + (n.payloadVersion == null ? "" : " (payload " + n.payloadVersion + ")")
              + (n.message == null ? "" : ": " + n.message);
      events.add(new Event(n.phase == Phase.Failed, "Node" + n.phase, msg));
    }
    Set<String> added = new TreeSet<>(after.runtimeClasses);
    added.removeAll(b.runtimeClasses);
    Set<String> removed = new TreeSet<>(b.runtimeClasses);
    removed.removeAll(after.runtimeClasses);
    added.forEach(
        rc ->
            events.add(
                new Event(false, "RuntimeClassPublished", "RuntimeClass " + rc + " published")));
    // While uninstalling, classes go because the KataConfig does, whatever the nodes report.
    String why =
        Conditions.find(after.conditions, KataConfigStatus.READY)
                .filter(c -> "Uninstalling".equals(c.getReason()))
                .isPresent()
            ? "the KataConfig is being deleted"
            : "no selected node supports it";
    removed.forEach(
        rc ->
            events.add(
                new Event(
                    false, "RuntimeClassWithdrawn", "RuntimeClass " + rc + " withdrawn: " + why)));
    return events;
  }
}
