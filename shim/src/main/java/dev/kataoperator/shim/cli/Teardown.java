package dev.kataoperator.shim.cli;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;

/**
 * What kata-run must undo, closed in reverse order exactly once: from the normal path, or from the
 * shutdown hook on Ctrl-C / SIGTERM, whichever comes first.
 */
final class Teardown {
  private final Deque<AutoCloseable> steps = new ArrayDeque<>();
  private final CountDownLatch closed = new CountDownLatch(1);
  private boolean started;

  synchronized void onClose(Runnable step) {
    if (started) {
      step.run();
      return;
    }
    steps.push(step::run);
  }

  /**
   * Creates a resource and registers it; when teardown already began (Ctrl-C during a boot), the
   * resource is closed at once and the caller gets an error instead of a half-owned resource.
   */
  <T extends AutoCloseable> T own(Supplier<T> create) {
    T resource = create.get();
    synchronized (this) {
      if (!started) {
        steps.push(resource);
        return resource;
      }
    }
    closeQuietly(resource);
    throw new IllegalStateException("interrupted");
  }

  synchronized boolean started() {
    return started;
  }

  void close() {
    synchronized (this) {
      if (started) {
        return;
      }
      started = true;
    }
    try {
      AutoCloseable step;
      while ((step = poll()) != null) {
        closeQuietly(step);
      }
    } finally {
      closed.countDown();
    }
  }

  private synchronized AutoCloseable poll() {
    return steps.poll();
  }

  void awaitClosed() {
    try {
      closed.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      System.err.println("kata-run: cleanup: " + e.getMessage());
    }
  }
}
