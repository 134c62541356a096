package dev.kataoperator.shim.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.containerd.api.events.TaskExit;
import dev.kataoperator.shim.containerd.api.events.TaskOOM;
import dev.kataoperator.shim.containerd.api.types.Envelope;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class EventPublisherTest {
  @Test
  void aFloodOfOomEventsIsBoundedAndAnExitBehindItStillArrives() throws Exception {
    var release = new CountDownLatch(1);
    List<String> delivered = new CopyOnWriteArrayList<>();
    EventPublisher.Forwarder stuckContainerd =
        (Envelope e) -> {
          release.await();
          delivered.add(e.getTopic());
        };
    try (var events = new EventPublisher("k8s.io", stuckContainerd, Duration.ofMillis(1))) {
      for (int i = 0; i < 1_000_000; i++) {
        events.publish(TaskOOM.newBuilder().setContainerId("app").build());
      }
      events.publish(TaskExit.newBuilder().setContainerId("app").setExitStatus(137).build());
      assertTrue(events.queued() <= EventPublisher.MAX_QUEUED_OOM + 1, "queued " + events.queued());
      assertTrue(events.droppedOomEvents() >= 1_000_000 - EventPublisher.MAX_QUEUED_OOM - 1);
      release.countDown();
      assertTrue(events.flush(Duration.ofSeconds(10)));
      assertEquals("/tasks/exit", delivered.getLast());
      assertTrue(delivered.size() <= EventPublisher.MAX_QUEUED_OOM + 2, delivered.size() + "");
      // Drained, the bound is free again: the next kill is reported.
      events.publish(TaskOOM.newBuilder().setContainerId("app").build());
      assertTrue(events.flush(Duration.ofSeconds(10)));
      assertEquals("/tasks/oom", delivered.getLast());
    }
  }
}
