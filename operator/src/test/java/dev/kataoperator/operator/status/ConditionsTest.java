package dev.kataoperator.operator.status;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fabric8.kubernetes.api.model.Condition;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class ConditionsTest {
  static final Instant T0 = Instant.parse("2025-01-01T10:00:00.123Z");
  static final Instant T1 = Instant.parse("2025-01-01T11:00:00Z");

  @Test
  void newConditionsGetNowTruncatedToSeconds() {
    List<Condition> c =
        Conditions.merge(List.of(), List.of(Conditions.of("Ready", false, "R", "m", 1L)), T0);
    assertEquals("2025-01-01T10:00:00Z", c.get(0).getLastTransitionTime());
    assertEquals(1L, c.get(0).getObservedGeneration());
  }

  @Test
  void sameStatusKeepsTransitionTimeEvenWhenReasonOrMessageChange() {
    List<Condition> first =
        Conditions.merge(List.of(), List.of(Conditions.of("Ready", false, "A", "m1", 1L)), T0);
    List<Condition> second =
        Conditions.merge(first, List.of(Conditions.of("Ready", false, "B", "m2", 2L)), T1);
    assertEquals("2025-01-01T10:00:00Z", second.get(0).getLastTransitionTime());
    assertEquals("B", second.get(0).getReason());
    assertEquals(2L, second.get(0).getObservedGeneration());
  }

  @Test
  void statusChangeMovesTransitionTime() {
    List<Condition> first =
        Conditions.merge(List.of(), List.of(Conditions.of("Ready", false, "A", "m", 1L)), T0);
    List<Condition> second =
        Conditions.merge(first, List.of(Conditions.of("Ready", true, "A", "m", 1L)), T1);
    assertEquals("2025-01-01T11:00:00Z", second.get(0).getLastTransitionTime());
    assertEquals("True", second.get(0).getStatus());
  }
}
