package dev.kataoperator.shim.containerd;

import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import dev.kataoperator.shim.containerd.api.events.TaskCreate;
import dev.kataoperator.shim.containerd.api.events.TaskDelete;
import dev.kataoperator.shim.containerd.api.events.TaskExecAdded;
import dev.kataoperator.shim.containerd.api.events.TaskExecStarted;
import dev.kataoperator.shim.containerd.api.events.TaskExit;
import dev.kataoperator.shim.containerd.api.events.TaskOOM;
import dev.kataoperator.shim.containerd.api.events.TaskPaused;
import dev.kataoperator.shim.containerd.api.events.TaskResumed;
import dev.kataoperator.shim.containerd.api.events.TaskStart;
import dev.kataoperator.shim.containerd.api.events.ttrpc.ForwardRequest;
import dev.kataoperator.shim.containerd.api.types.Envelope;
import dev.kataoperator.shim.ttrpc.TtrpcClient;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Publishes task events to containerd, in the order they were published, through containerd's ttrpc
 * Events/Forward (TTRPC_ADDRESS). One sender thread; an event that fails is retried (with a growing
 * pause, reconnecting) up to 5 times before it is dropped, and later events wait for it, so
 * containerd never sees TaskExit before TaskStart.
 *
 * <p>The queue is bounded where the guest drives it: an OOM event, which a hostile guest can report
 * at will, is dropped once {@link #MAX_QUEUED_OOM} events wait. Lifecycle events are one per
 * containerd request and always queue, so no exit is ever lost to a flood.
 */
public final class EventPublisher implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(EventPublisher.class.getName());
  static final String SERVICE = "containerd.services.events.ttrpc.v1.Events";
  private static final int MAX_ATTEMPTS = 6;
  static final int MAX_QUEUED_OOM = 256;

  /** The topic of each event type, as containerd's runtime names them. */
  static final Map<Class<? extends Message>, String> TOPICS =
      Map.of(
          TaskCreate.class, "/tasks/create",
          TaskStart.class, "/tasks/start",
          TaskExit.class, "/tasks/exit",
          TaskDelete.class, "/tasks/delete",
          TaskExecAdded.class, "/tasks/exec-added",
          TaskExecStarted.class, "/tasks/exec-started",
          TaskOOM.class, "/tasks/oom",
          TaskPaused.class, "/tasks/paused",
          TaskResumed.class, "/tasks/resumed");

  /** Delivers one envelope; throws to have it retried. */
  @FunctionalInterface
  public interface Forwarder {
    void forward(Envelope envelope) throws Exception;
  }

  private final String namespace;
  private final Forwarder forwarder;
  private final LinkedBlockingQueue<Envelope> queue = new LinkedBlockingQueue<>();
  private final Thread sender;
  private final Duration retryPause;
  private volatile boolean closing;
  private volatile boolean busy;
  private final AtomicInteger queuedOom = new AtomicInteger();
  private final AtomicLong droppedOom = new AtomicLong();

  public EventPublisher(String namespace, Forwarder forwarder) {
    this(namespace, forwarder, Duration.ofSeconds(1));
  }

  EventPublisher(String namespace, Forwarder forwarder, Duration retryPause) {
    this.namespace = namespace;
    this.forwarder = forwarder;
    this.retryPause = retryPause;
    this.sender = Thread.ofVirtual().name("containerd-events").start(this::run);
  }

  /**
   * A publisher to containerd's ttrpc address ("unix:///run/containerd/containerd.sock.ttrpc" or a
   * plain path), connecting lazily and reconnecting after failures.
   */
  public static EventPublisher toContainerd(String ttrpcAddress, String namespace) {
    return new EventPublisher(namespace, new TtrpcForwarder(ttrpcAddress));
  }

  /** Queues an event for containerd; never blocks. */
  public void publish(Message event) {
    String topic = TOPICS.get(event.getClass());
    if (topic == null) {
      throw new IllegalArgumentException("not a task event: " + event.getClass().getName());
    }
    boolean oom = event instanceof TaskOOM;
    if (oom && queuedOom.incrementAndGet() > MAX_QUEUED_OOM) {
      queuedOom.decrementAndGet();
      if (droppedOom.getAndIncrement() % 1000 == 0) {
        LOG.log(
            Level.WARNING,
            "more than "
                + MAX_QUEUED_OOM
                + " OOM events wait for containerd; dropping ("
                + droppedOom.get()
                + " so far)");
      }
      return;
    }
    Instant now = Instant.now();
    queue.add(
        Envelope.newBuilder()
            .setTimestamp(
                Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
            .setNamespace(namespace)
            .setTopic(topic)
            .setEvent(
                Any.newBuilder()
                    // containerd's typeurl names protobuf events by their full name, no prefix.
                    .setTypeUrl(event.getDescriptorForType().getFullName())
                    .setValue(event.toByteString()))
            .build());
  }

  /** How many OOM events were dropped because too many waited. */
  long droppedOomEvents() {
    return droppedOom.get();
  }

  /** How many events wait to be delivered. */
  int queued() {
    return queue.size();
  }

  /** Waits until every queued event was delivered (or dropped), at most {@code timeout}. */
  public boolean flush(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!queue.isEmpty() || busy) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      try {
        Thread.sleep(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }

  /** Flushes (at most 5 s) and stops. */
  @Override
  public void close() {
    flush(Duration.ofSeconds(5));
    closing = true;
    sender.interrupt();
    if (forwarder instanceof AutoCloseable c) {
      try {
        c.close();
      } catch (Exception e) {
        LOG.log(Level.DEBUG, "closing event forwarder", e);
      }
    }
  }

  private void run() {
    while (!closing) {
      Envelope e;
      try {
        // Blocks without a timeout: an idle pod's shim does not wake up; close() interrupts.
        e = queue.take();
      } catch (InterruptedException ie) {
        return;
      }
      busy = true;
      try {
        deliver(e);
      } finally {
        if (e.getTopic().equals(TOPICS.get(TaskOOM.class))) {
          queuedOom.decrementAndGet();
        }
        busy = false;
      }
    }
  }

  private void deliver(Envelope e) {
    for (int attempt = 1; attempt <= MAX_ATTEMPTS && !closing; attempt++) {
      try {
        forwarder.forward(e);
        return;
      } catch (Exception ex) {
        LOG.log(
            Level.WARNING,
            "forwarding event " + e.getTopic() + " failed (attempt " + attempt + ")",
            ex);
        if (attempt < MAX_ATTEMPTS) {
          try {
            Thread.sleep(retryPause.multipliedBy(attempt));
          } catch (InterruptedException ie) {
            return;
          }
        }
      }
    }
    LOG.log(Level.ERROR, "dropping event {0}", e.getTopic());
  }

  /** Forwards over ttrpc to containerd, reconnecting when the connection is gone. */
  static final class TtrpcForwarder implements Forwarder, AutoCloseable {
    private final Path socket;
    private TtrpcClient client;

    TtrpcForwarder(String address) {
      this.socket = Path.of(address.startsWith("unix://") ? address.substring(7) : address);
    }

    @Override
    public synchronized void forward(Envelope envelope) throws Exception {
      if (client == null || client.isClosed()) {
        client = TtrpcClient.connect(socket);
      }
      try {
        client.call(
            SERVICE,
            "Forward",
            ForwardRequest.newBuilder().setEnvelope(envelope).build(),
            Empty.parser(),
            Duration.ofSeconds(5));
      } catch (RuntimeException e) {
        client.close();
        client = null;
        throw e;
      }
    }

    @Override
    public synchronized void close() {
      if (client != null) {
        client.close();
      }
    }
  }
}
