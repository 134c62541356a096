package dev.kataoperator.shim.ttrpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.kataoperator.shim.ttrpc.proto.KeyValue;
import dev.kataoperator.shim.ttrpc.proto.Request;
import dev.kataoperator.shim.ttrpc.proto.Response;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ByteChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A ttrpc client on one connection. Unary calls only (all that containerd's task API and the agent
 * API use). Any number of calls may be in flight at once: each gets the next odd stream id, one
 * reader thread routes responses back by stream id, and callers' futures are completed on virtual
 * threads (never on the reader), so a callback may itself make a blocking call.
 *
 * <p>A call's timeout fails only that call, with DEADLINE_EXCEEDED, and is sent to the server as
 * timeout_nano. When the connection drops, every pending call fails with UNAVAILABLE, as does every
 * later call.
 */
public final class TtrpcClient implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(TtrpcClient.class.getName());

  private static final ScheduledThreadPoolExecutor TIMERS = newTimers();
  private static final Executor COMPLETIONS =
      r -> Thread.ofVirtual().name("ttrpc-client-completion").start(r);

  private record Pending(CompletableFuture<ByteString> future, ScheduledFuture<?> timer) {}

  private final FrameChannel channel;
  private final String name;
  private final ConcurrentHashMap<Integer, Pending> pending = new ConcurrentHashMap<>();
  private final ReentrantLock sendLock = new ReentrantLock();
  private final CompletableFuture<Void> closed = new CompletableFuture<>();
  private final AtomicReference<TtrpcException> closedCause = new AtomicReference<>();
  private int nextStreamId = 1;

  /** Connects to a ttrpc server on a unix socket. */
  public static TtrpcClient connect(Path socket) throws IOException {
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ch.connect(UnixDomainSocketAddress.of(socket));
    } catch (IOException e) {
      ch.close();
      throw e;
    }
    return new TtrpcClient(ch, socket.toString());
  }

  /**
   * Speaks ttrpc over an already connected byte stream (a unix socket, a QEMU chardev socket, a
   * vsock connection). The client owns the channel from now on and closes it.
   */
  public TtrpcClient(ByteChannel connected, String name) {
    this.channel = new FrameChannel(connected);
    this.name = name;
    Thread.ofVirtual().name("ttrpc-client-reader " + name).start(this::readLoop);
  }

  /**
   * Calls a unary method and waits for its response.
   *
   * @param timeout null or zero for none
   * @throws TtrpcException with the server's status, or DEADLINE_EXCEEDED, UNAVAILABLE (connection
   *     gone), RESOURCE_EXHAUSTED (message too large either way), CANCELLED (interrupted)
   */
  public <R extends MessageLite> R call(
      String service, String method, MessageLite request, Parser<R> parser, Duration timeout) {
    CompletableFuture<R> f = callAsync(service, method, request, parser, timeout, List.of());
    try {
      return f.get();
    } catch (InterruptedException e) {
      f.cancel(false);
      Thread.currentThread().interrupt();
      throw new TtrpcException(Code.CANCELLED, "interrupted while waiting for " + method, e);
    } catch (ExecutionException e) {
      throw TtrpcException.from(e.getCause());
    } catch (CancellationException e) {
      throw new TtrpcException(Code.CANCELLED, "call cancelled", e);
    }
  }

  /** Like {@link #call} without waiting; the future fails with a {@link TtrpcException}. */
  public <R extends MessageLite> CompletableFuture<R> callAsync(
      String service, String method, MessageLite request, Parser<R> parser, Duration timeout) {
    return callAsync(service, method, request, parser, timeout, List.of());
  }

  /** {@link #callAsync} with request metadata (ttrpc's key/value pairs, keys may repeat). */
  public <R extends MessageLite> CompletableFuture<R> callAsync(
      String service,
      String method,
      MessageLite request,
      Parser<R> parser,
      Duration timeout,
      List<Map.Entry<String, String>> metadata) {
    boolean hasTimeout = timeout != null && !timeout.isZero() && !timeout.isNegative();
    Request.Builder req =
        Request.newBuilder()
            .setService(service)
            .setMethod(method)
            .setPayload(request.toByteString());
    if (hasTimeout) {
      req.setTimeoutNano(saturatedNanos(timeout));
    }
    for (Map.Entry<String, String> kv : metadata) {
      req.addMetadata(KeyValue.newBuilder().setKey(kv.getKey()).setValue(kv.getValue()));
    }
    byte[] bytes = req.build().toByteArray();
    if (bytes.length > FrameChannel.MAX_PAYLOAD) {
      return CompletableFuture.failedFuture(new MessageTooLargeException(bytes.length));
    }

    CompletableFuture<ByteString> raw = new CompletableFuture<>();
    sendLock.lock();
    int streamId;
    try {
      TtrpcException gone = closedCause.get();
      if (gone != null) {
        return CompletableFuture.failedFuture(gone);
      }
      streamId = nextStreamId;
      nextStreamId += 2;
      ScheduledFuture<?> timer =
          hasTimeout
              ? TIMERS.schedule(
                  () ->
                      raw.completeExceptionally(
                          new TtrpcException(
                              Code.DEADLINE_EXCEEDED,
                              service + "/" + method + ": no response within " + timeout)),
                  saturatedNanos(timeout),
                  TimeUnit.NANOSECONDS)
              : null;
      pending.put(streamId, new Pending(raw, timer));
      raw.whenComplete((v, e) -> forget(streamId));
      // Id allocation and the write are under one lock so ids increase on the wire.
      channel.write(streamId, FrameChannel.TYPE_REQUEST, (byte) 0, bytes);
    } catch (IOException e) {
      TtrpcException failure =
          new TtrpcException(Code.UNAVAILABLE, "ttrpc: sending to " + name + " failed", e);
      raw.completeExceptionally(failure);
      shutdown(failure);
      return CompletableFuture.failedFuture(failure);
    } finally {
      sendLock.unlock();
    }

    CompletableFuture<R> result = new CompletableFuture<>();
    raw.whenCompleteAsync(
        (payload, error) -> {
          if (error != null) {
            result.completeExceptionally(TtrpcException.from(error));
            return;
          }
          try {
            result.complete(parser.parseFrom(payload));
          } catch (InvalidProtocolBufferException e) {
            result.completeExceptionally(
                new TtrpcException(
                    Code.INTERNAL, "cannot parse the response to " + method + ": " + e, e));
          }
        },
        COMPLETIONS);
    // Cancelling the caller's future abandons the call.
    result.whenComplete(
        (v, e) -> {
          if (e instanceof CancellationException) {
            raw.cancel(false);
          }
        });
    return result;
  }

  /** Completes when the connection is gone, for whatever reason. */
  public CompletableFuture<Void> closeFuture() {
    return closed.copy();
  }

  public boolean isClosed() {
    return closedCause.get() != null;
  }

  /** Number of calls waiting for a response. */
  public int pendingCalls() {
    return pending.size();
  }

  /** Closes the connection; pending calls fail with UNAVAILABLE. */
  @Override
  public void close() {
    shutdown(new TtrpcException(Code.UNAVAILABLE, "ttrpc: client closed"));
  }

  private void forget(int streamId) {
    Pending p = pending.remove(streamId);
    if (p != null && p.timer() != null) {
      p.timer().cancel(false);
    }
  }

  private void readLoop() {
    TtrpcException cause;
    try {
      while (true) {
        FrameChannel.Frame frame = channel.read();
        if (frame == null) {
          cause = new TtrpcException(Code.UNAVAILABLE, "ttrpc: connection closed by " + name);
          break;
        }
        dispatch(frame);
      }
    } catch (ClosedChannelException e) {
      cause = new TtrpcException(Code.UNAVAILABLE, "ttrpc: client closed");
    } catch (IOException | RuntimeException e) {
      cause = new TtrpcException(Code.UNAVAILABLE, "ttrpc: connection to " + name + " lost", e);
    }
    shutdown(cause);
  }

  private void dispatch(FrameChannel.Frame frame) {
    Pending p = pending.get(frame.streamId());
    if (p == null) {
      LOG.log(Level.DEBUG, "ttrpc: message on inactive stream {0}", frame.streamId());
      return;
    }
    if (frame.oversized()) {
      p.future()
          .completeExceptionally(
              new TtrpcException(
                  Code.RESOURCE_EXHAUSTED,
                  "message length "
                      + frame.oversizedLength()
                      + " exceeds maximum message size of "
                      + FrameChannel.MAX_PAYLOAD));
      return;
    }
    if (frame.type() != FrameChannel.TYPE_RESPONSE) {
      LOG.log(Level.DEBUG, "ttrpc: ignoring message of type {0}", frame.type());
      return;
    }
    Response response;
    try {
      response = Response.parseFrom(frame.payload());
    } catch (InvalidProtocolBufferException e) {
      p.future()
          .completeExceptionally(
              new TtrpcException(Code.INTERNAL, "ttrpc: malformed response: " + e, e));
      return;
    }
    TtrpcException error =
        response.hasStatus() ? TtrpcException.fromStatus(response.getStatus()) : null;
    if (error != null) {
      p.future().completeExceptionally(error);
    } else {
      p.future().complete(response.getPayload());
    }
  }

  private void shutdown(TtrpcException cause) {
    // Not under sendLock: a writer blocked on a full socket must not block close().
    if (!closedCause.compareAndSet(null, cause)) {
      return;
    }
    try {
      channel.close();
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "ttrpc: closing " + name, e);
    }
    for (Pending p : pending.values()) {
      p.future().completeExceptionally(cause);
    }
    closed.complete(null);
  }

  private static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException e) {
      return Long.MAX_VALUE;
    }
  }

  private static ScheduledThreadPoolExecutor newTimers() {
    ScheduledThreadPoolExecutor t =
        new ScheduledThreadPoolExecutor(
            1, Thread.ofPlatform().daemon().name("ttrpc-timeouts").factory());
    t.setRemoveOnCancelPolicy(true);
    return t;
  }
}
