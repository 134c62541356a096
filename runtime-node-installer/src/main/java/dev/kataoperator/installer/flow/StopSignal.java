package dev.kataoperator.installer.flow;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * SIGTERM, as the pod's stop: the JVM runs its shutdown hooks on a signal, and this one hands the
 * decision to the main thread (revert the node or leave it) and holds the JVM until that is done,
 * within the pod's grace period. The main thread checks {@link #requested} between steps, so a stop
 * in the middle of a flow ends it at a step boundary, which a later run picks up from.
 */
public final class StopSignal {
  private final CountDownLatch requested = new CountDownLatch(1);
  private final CountDownLatch finished = new CountDownLatch(1);

  private StopSignal() {}

  /** A signal wired to the JVM's shutdown, holding it up to {@code grace} for the main thread. */
  public static StopSignal onShutdown(Duration grace) {
    StopSignal s = new StopSignal();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  s.requested.countDown();
                  try {
                    s.finished.await(grace.toMillis(), TimeUnit.MILLISECONDS);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                },
                "stop"));
    return s;
  }

  /** A signal nothing triggers (the {@code check} command, tests). */
  public static StopSignal none() {
    return new StopSignal();
  }

  public boolean requested() {
    return requested.getCount() == 0;
  }

  /** Sleeps until the pod is stopped. */
  public void await() throws InterruptedException {
    requested.await();
  }

  /** The main thread is done: the JVM may exit. */
  public void done() {
    finished.countDown();
  }
}
