package dev.kataoperator.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.agent.v1.HealthResponse;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class TimelineTest {
  @Test
  void guestPhasesArePlacedOnTheHostClockThroughTheHealthAnswer() {
    Timeline t = Timeline.sinceProcessStart();
    long answered = System.nanoTime();
    t.markAt(Timeline.AGENT_READY, answered);
    t.markGuest(
        HealthResponse.newBuilder()
            .setAgentStartedMs(700)
            .setAgentListeningMs(750)
            .setUptimeMs(1000)
            .build(),
        answered);
    long ready = t.millis(Timeline.AGENT_READY);
    assertEquals(ready - 1000, t.millis(Timeline.GUEST_KERNEL), 1);
    assertEquals(ready - 300, t.millis(Timeline.GUEST_INIT), 1);
    assertEquals(ready - 250, t.millis(Timeline.AGENT_LISTENING), 1);
    // In time order, whatever order they were recorded in.
    String s = t.summary();
    assertTrue(
        s.indexOf("kernel=") < s.indexOf("init=")
            && s.indexOf("init=") < s.indexOf("listening=")
            && s.indexOf("listening=") < s.indexOf("agent="),
        s);
  }

  @Test
  void anAgentWithoutTimesAddsNothingAndTheFirstMarkOfAPhaseStays() throws Exception {
    Timeline t = Timeline.sinceProcessStart();
    t.markGuest(HealthResponse.getDefaultInstance(), System.nanoTime());
    assertEquals(-1, t.millis(Timeline.GUEST_KERNEL));
    t.mark(Timeline.CREATED, "c1");
    long first = t.millis("created[c1]");
    Thread.sleep(20);
    t.mark(Timeline.CREATED, "c1");
    assertEquals(first, t.millis("created[c1]"));
    assertTrue(first >= 0, "measured from the process start: " + first);
    assertEquals("created[c1]=" + first, t.summary());
  }
}
