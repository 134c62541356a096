package dev.kataoperator.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/** Condition helpers: lastTransitionTime moves only when a condition's status changes. */
public final class Conditions {
  private Conditions() {}

  public static Condition of(
      String type, boolean status, String reason, String message, Long generation) {
    return new ConditionBuilder()
        .withType(type)
        .withStatus(status ? "True" : "False")
        .withReason(reason)
        .withMessage(message)
        .withObservedGeneration(generation)
        .build();
  }

  /**
   * The next conditions: {@code next} in order, each keeping the previous lastTransitionTime if its
   * status did not change, {@code now} otherwise.
   */
  public static List<Condition> merge(List<Condition> previous, List<Condition> next, Instant now) {
    String ts = now.truncatedTo(ChronoUnit.SECONDS).toString();
    List<Condition> out = new ArrayList<>();
    for (Condition c : next) {
      Optional<Condition> old = find(previous, c.getType());
      String lastTransition =
          old.filter(o -> Objects.equals(o.getStatus(), c.getStatus()))
              .map(Condition::getLastTransitionTime)
              .filter(t -> t != null && !t.isEmpty())
              .orElse(ts);
      out.add(new ConditionBuilder(c).withLastTransitionTime(lastTransition).build());
    }
    return out;
  }

  public static Optional<Condition> find(List<Condition> conditions, String type) {
    if (conditions == null) {
      return Optional.empty();
    }
    return conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  public static boolean isTrue(List<Condition> conditions, String type) {
    return find(conditions, type).map(c -> "True".equals(c.getStatus())).orElse(false);
  }
}
