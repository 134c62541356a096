package dev.kataoperator.shim.pod;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * The guest's OOM events as the pod passes them to containerd. The guest is not trusted (its root
 * owns the agent), so an event goes on only for a container this pod created and has not deleted,
 * at most once per container per {@link #COALESCE} (one kill is often reported more than once), and
 * a guest reporting faster than {@link #BURST} a second makes the reading loop pause until the
 * second is over: a flood costs the host a bounded number of calls, never a busy loop or a growing
 * queue.
 */
final class OomEvents {
  private static final System.Logger LOG = System.getLogger(OomEvents.class.getName());
  static final Duration COALESCE = Duration.ofSeconds(1);
  static final int BURST = 64;
  private static final long SECOND = Duration.ofSeconds(1).toNanos();

  private final Predicate<String> ownContainer;
  private final Consumer<String> sink;
  private final LongSupplier nanoTime;
  private final Map<String, Long> lastPassed = new HashMap<>();
  private long windowStart;
  private int inWindow;
  private long refused;

  OomEvents(Predicate<String> ownContainer, Consumer<String> sink) {
    this(ownContainer, sink, System::nanoTime);
  }

  OomEvents(Predicate<String> ownContainer, Consumer<String> sink, LongSupplier nanoTime) {
    this.ownContainer = ownContainer;
    this.sink = sink;
    this.nanoTime = nanoTime;
    this.windowStart = nanoTime.getAsLong();
  }

  /** Handles one event from the guest; returns how long the reading loop waits before the next. */
  synchronized Duration accept(String containerId) {
    long now = nanoTime.getAsLong();
    if (now - windowStart >= SECOND) {
      windowStart = now;
      inWindow = 0;
    }
    inWindow++;
    Duration pause =
        inWindow > BURST ? Duration.ofNanos(SECOND - (now - windowStart)) : Duration.ZERO;
    if (!ownContainer.test(containerId)) {
      if (refused++ % 1000 == 0) {
        LOG.log(
            Level.WARNING,
            "the guest reported an OOM kill of a container this pod does not have ("
                + printable(containerId)
                + "); ignored ("
                + refused
                + " so far)");
      }
      return pause;
    }
    Long last = lastPassed.get(containerId);
    if (last != null && now - last < COALESCE.toNanos()) {
      return pause;
    }
    if (lastPassed.size() >= 1024) {
      lastPassed.keySet().removeIf(id -> !ownContainer.test(id)); // deleted containers
    }
    lastPassed.put(containerId, now);
    sink.accept(containerId);
    return pause;
  }

  /** How many events named a container the pod does not have. */
  synchronized long refused() {
    return refused;
  }

  private static String printable(String s) {
    String t = s.length() > 80 ? s.substring(0, 80) + "..." : s;
    return t.replaceAll("\\P{Print}", "?");
  }
}
