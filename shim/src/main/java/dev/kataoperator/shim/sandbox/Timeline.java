package dev.kataoperator.shim.sandbox;

import dev.kataoperator.agent.v1.HealthResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * When each phase of a pod's life happened, in milliseconds since the shim process started: the
 * host's own phases (request received, network attached, QEMU spawned, agent ready, containers
 * created, started, exited, deleted, VM stopped) and the guest's (kernel started, init running,
 * agent listening), placed on the host's clock through the agent's Health answer. Logged as one
 * line per pod when it ends ({@link #summary()}); {@code make bench} tabulates these lines.
 */
public final class Timeline {
  /** The prefix of the logged line, what the benchmark looks for. */
  public static final String LOG_PREFIX = "timeline ";

  // Phase names, in the order a pod goes through them.
  public static final String CREATE_REQUESTED = "requested";
  public static final String NETWORK = "network";
  public static final String QEMU = "qemu";
  public static final String GUEST_KERNEL = "kernel";
  public static final String GUEST_INIT = "init";
  public static final String AGENT_LISTENING = "listening";
  public static final String AGENT_READY = "agent";
  public static final String SANDBOX = "sandbox";
  public static final String CREATED = "created";
  public static final String STARTED = "started";
  public static final String EXITED = "exited";
  public static final String DELETED = "deleted";
  public static final String VM_STOPPED = "vm-stopped";

  private record Mark(String phase, long nanos) {}

  private final long originNanos;
  private final List<Mark> marks = new ArrayList<>();

  private Timeline(long originNanos) {
    this.originNanos = originNanos;
  }

  /** A timeline whose zero is this process's start (from /proc, 10 ms resolution). */
  public static Timeline sinceProcessStart() {
    long now = System.nanoTime();
    Instant started = ProcessHandle.current().info().startInstant().orElse(Instant.now());
    long age = Math.max(0, Duration.between(started, Instant.now()).toNanos());
    return new Timeline(now - age);
  }

  /** Records a phase now; a phase already recorded keeps its first time. */
  public void mark(String phase) {
    markAt(phase, System.nanoTime());
  }

  /** Records a phase of one container, shown as {@code phase[id]}. */
  public void mark(String phase, String containerId) {
    mark(phase + "[" + containerId + "]");
  }

  public synchronized void markAt(String phase, long nanoTime) {
    if (marks.stream().noneMatch(m -> m.phase.equals(phase))) {
      marks.add(new Mark(phase, nanoTime));
    }
  }

  /**
   * Places the guest's boot phases, given its Health answer received at {@code answeredNanos}: the
   * guest's clock started {@code uptime_ms} before that. Older agents report no times: nothing.
   */
  public void markGuest(HealthResponse health, long answeredNanos) {
    if (health.getUptimeMs() == 0) {
      return;
    }
    long guestZero = answeredNanos - health.getUptimeMs() * 1_000_000;
    markAt(GUEST_KERNEL, guestZero);
    if (health.getAgentStartedMs() > 0) {
      markAt(GUEST_INIT, guestZero + health.getAgentStartedMs() * 1_000_000);
    }
    if (health.getAgentListeningMs() > 0) {
      markAt(AGENT_LISTENING, guestZero + health.getAgentListeningMs() * 1_000_000);
    }
  }

  /** Milliseconds from the process start to {@code phase}; -1 if it was not recorded. */
  public synchronized long millis(String phase) {
    return marks.stream()
        .filter(m -> m.phase.equals(phase))
        .findFirst()
        .map(m -> (m.nanos - originNanos) / 1_000_000)
        .orElse(-1L);
  }

  /** {@code phase=ms ...} in time order. */
  public synchronized String summary() {
    return marks.stream()
        .sorted((a, b) -> Long.compare(a.nanos, b.nanos))
        .map(m -> m.phase + "=" + (m.nanos - originNanos) / 1_000_000)
        .collect(Collectors.joining(" "));
  }
}
