package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A hostile guest's OOM events: what reaches containerd and how long the reading loop waits. */
@Tag("unit")
class OomEventsTest {
  private long now;

  @Test
  void aMillionEventsSomeNamingAnotherPodsContainerBecomeAFewForOwnContainers() {
    Set<String> own = Set.of("sandbox", "app");
    List<String> passed = new ArrayList<>();
    var events = new OomEvents(own::contains, passed::add, () -> now);
    long waited = 0;
    // A guest answering every GetOOMEvent at once (1 µs each, plus the pauses it is asked for).
    for (int i = 0; i < 1_000_000; i++) {
      String id =
          switch (i % 4) {
            case 0 -> "app";
            case 1 -> "sandbox";
            case 2 -> "other-pods-container";
            default -> "../../etc";
          };
      Duration pause = events.accept(id);
      waited += pause.toNanos();
      now += 1_000 + pause.toNanos();
    }
    double seconds = now / 1e9;
    // At most BURST events a second are read, so a million take hours of pauses, not a busy loop.
    // (BURST + 1 events a window: BURST free, the next one waits out the second.)
    assertTrue(seconds >= 1_000_000.0 / (OomEvents.BURST + 1) - 1, "loop ran " + seconds + " s");
    assertTrue(waited > 0);
    // Each own container at most once a second; nothing for a container the pod does not have.
    assertTrue(passed.stream().allMatch(own::contains), passed.toString());
    long perContainer = passed.stream().filter("app"::equals).count();
    assertTrue(perContainer <= Math.ceil(seconds) + 1, perContainer + " in " + seconds + " s");
    assertEquals(500_000, events.refused());
  }

  @Test
  void aSingleKillPassesAtOnceAndARepeatWithinASecondIsCoalesced() {
    List<String> passed = new ArrayList<>();
    var events = new OomEvents("app"::equals, passed::add, () -> now);
    assertEquals(Duration.ZERO, events.accept("app"));
    now += 500_000_000L;
    events.accept("app");
    assertEquals(List.of("app"), passed);
    now += 600_000_000L;
    events.accept("app");
    assertEquals(List.of("app", "app"), passed);
  }

  @Test
  void aDeletedContainersEventsStopPassing() {
    Set<String> own = new java.util.HashSet<>(Set.of("app"));
    List<String> passed = new ArrayList<>();
    var events = new OomEvents(own::contains, passed::add, () -> now);
    events.accept("app");
    own.remove("app");
    now += 5_000_000_000L;
    events.accept("app");
    assertEquals(List.of("app"), passed);
    assertEquals(1, events.refused());
  }
}
