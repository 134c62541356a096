package dev.kataoperator.shim.ttrpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.kataoperator.shim.ttrpc.proto.KeyValue;
import dev.kataoperator.shim.ttrpc.proto.Request;
import dev.kataoperator.shim.ttrpc.proto.Response;
import dev.kataoperator.shim.ttrpc.proto.Status;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A ttrpc server: unary methods registered by (service, method), served on a unix socket. Each
 * connection has one reader thread; each request runs on its own virtual thread, so requests on one
 * connection are handled concurrently and answered in completion order.
 *
 * <p>Failures become statuses in one place, {@link TtrpcException#from}: an unknown service or
 * method is UNIMPLEMENTED, a handler's {@link TtrpcException} keeps its code, any other exception
 * becomes UNKNOWN (or the code that mapping gives it) with its message.
 *
 * <p>{@link #shutdown(Duration)} stops accepting, answers new requests with UNAVAILABLE, lets
 * requests in progress finish (up to the grace period), then closes every connection.
 */
public final class TtrpcServer implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(TtrpcServer.class.getName());
  private static final Duration DEFAULT_GRACE = Duration.ofSeconds(5);

  /** A unary method working on the raw request bytes ({@link ServerCall#payload()}). */
  @FunctionalInterface
  public interface Handler {
    MessageLite handle(ServerCall call) throws Exception;
  }

  /** A unary method on a parsed request. */
  @FunctionalInterface
  public interface UnaryHandler<Q> {
    MessageLite handle(Q request, ServerCall call) throws Exception;
  }

  private final Map<String, Map<String, Handler>> services = new ConcurrentHashMap<>();
  private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
  private final AtomicInteger active = new AtomicInteger();
  private final Object idle = new Object();
  private final AtomicBoolean started = new AtomicBoolean();
  private final CompletableFuture<Void> terminated = new CompletableFuture<>();
  private volatile boolean shuttingDown;
  private ServerSocketChannel listener;
  private Path ownedSocket;

  /** Registers a method whose request is parsed with {@code parser}. Returns this. */
  public <Q> TtrpcServer register(
      String service, String method, Parser<Q> parser, UnaryHandler<Q> handler) {
    return registerRaw(
        service, method, call -> handler.handle(parser.parseFrom(call.payload()), call));
  }

  /** Registers a method on raw request bytes. Returns this. */
  public TtrpcServer registerRaw(String service, String method, Handler handler) {
    Handler previous =
        services
            .computeIfAbsent(service, s -> new ConcurrentHashMap<>())
            .putIfAbsent(method, handler);
    if (previous != null) {
      throw new IllegalStateException("duplicate ttrpc method " + service + "/" + method);
    }
    return this;
  }

  /**
   * Binds a new unix socket at {@code socket} (its directory is created; the path must not exist)
   * and starts serving. The socket file is removed on shutdown.
   */
  public TtrpcServer start(Path socket) throws IOException {
    Files.createDirectories(socket.toAbsolutePath().getParent());
    ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ch.bind(UnixDomainSocketAddress.of(socket));
    } catch (IOException e) {
      ch.close();
      throw e;
    }
    ownedSocket = socket;
    return start(ch);
  }

  /** Starts serving on an already bound server socket; the server owns and closes it. */
  public TtrpcServer start(ServerSocketChannel bound) {
    if (!started.compareAndSet(false, true)) {
      throw new IllegalStateException("server already started");
    }
    listener = bound;
    Thread.ofVirtual().name("ttrpc-accept").start(this::acceptLoop);
    return this;
  }

  /** Number of requests being handled right now. */
  public int activeRequests() {
    return active.get();
  }

  /** Completes when the server has shut down and closed all connections. */
  public CompletableFuture<Void> terminationFuture() {
    return terminated.copy();
  }

  /** Blocks until the server has shut down. */
  public void awaitTermination() throws InterruptedException {
    try {
      terminated.get();
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Graceful shutdown with a default grace period of 5 s. */
  @Override
  public void close() {
    shutdown(DEFAULT_GRACE);
  }

  /**
   * Stops accepting connections and requests, waits up to {@code grace} for requests in progress to
   * be answered, then closes all connections. Safe to call from a handler only via another thread
   * (a handler waiting for itself would wait out the grace period).
   */
  public void shutdown(Duration grace) {
    synchronized (this) {
      if (shuttingDown) {
        try {
          terminated.get(grace.toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
          LOG.log(Level.DEBUG, "ttrpc: waiting for a concurrent shutdown", e);
        }
        return;
      }
      shuttingDown = true;
    }
    try {
      if (listener != null) {
        listener.close();
      }
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "ttrpc: closing listener", e);
    }
    long deadline = System.nanoTime() + grace.toNanos();
    synchronized (idle) {
      while (active.get() > 0) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          LOG.log(Level.WARNING, "ttrpc: closing with {0} request(s) still running", active.get());
          break;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(idle, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    for (Connection c : List.copyOf(connections)) {
      c.close();
    }
    if (ownedSocket != null) {
      try {
        Files.deleteIfExists(ownedSocket);
      } catch (IOException e) {
        LOG.log(Level.DEBUG, "ttrpc: removing socket", e);
      }
    }
    terminated.complete(null);
  }

  private void acceptLoop() {
    while (!shuttingDown) {
      SocketChannel ch;
      try {
        ch = listener.accept();
      } catch (ClosedChannelException e) {
        break;
      } catch (IOException e) {
        if (shuttingDown) {
          break;
        }
        LOG.log(Level.WARNING, "ttrpc: accept failed", e);
        try {
          Thread.sleep(10);
        } catch (InterruptedException ie) {
          break;
        }
        continue;
      }
      Connection c = new Connection(ch);
      connections.add(c);
      if (shuttingDown) {
        c.close();
        break;
      }
      Thread.ofVirtual().name("ttrpc-server-reader").start(c::readLoop);
    }
  }

  private void requestDone() {
    if (active.decrementAndGet() == 0) {
      synchronized (idle) {
        idle.notifyAll();
      }
    }
  }

  private final class Connection {
    private final SocketChannel socket;
    private final FrameChannel channel;
    private volatile boolean closed;
    private long lastStreamId;

    Connection(SocketChannel socket) {
      this.socket = socket;
      this.channel = new FrameChannel(socket);
    }

    void readLoop() {
      try {
        FrameChannel.Frame frame;
        while ((frame = channel.read()) != null) {
          onFrame(frame);
        }
      } catch (ClosedChannelException e) {
        // closed by us
      } catch (IOException | RuntimeException e) {
        if (!closed) {
          LOG.log(Level.DEBUG, "ttrpc: connection failed", e);
        }
      } finally {
        close();
      }
    }

    private void onFrame(FrameChannel.Frame frame) {
      long id = Integer.toUnsignedLong(frame.streamId());
      if (frame.oversized()) {
        respondError(
            frame.streamId(),
            new TtrpcException(
                Code.RESOURCE_EXHAUSTED,
                "message length "
                    + frame.oversizedLength()
                    + " exceeds maximum message size of "
                    + FrameChannel.MAX_PAYLOAD));
        return;
      }
      if (id % 2 != 1) {
        respondError(
            frame.streamId(),
            TtrpcException.invalidArgument("StreamID must be odd for client initiated streams"));
        return;
      }
      if (frame.type() == FrameChannel.TYPE_DATA) {
        respondError(
            frame.streamId(), TtrpcException.invalidArgument("StreamID is no longer active"));
        return;
      }
      if (frame.type() != FrameChannel.TYPE_REQUEST) {
        LOG.log(Level.DEBUG, "ttrpc: ignoring message of type {0}", frame.type());
        return;
      }
      if (id <= lastStreamId) {
        respondError(
            frame.streamId(),
            TtrpcException.invalidArgument("StreamID cannot be re-used and must increment"));
        return;
      }
      lastStreamId = id;
      Request request;
      try {
        request = Request.parseFrom(frame.payload());
      } catch (InvalidProtocolBufferException e) {
        respondError(
            frame.streamId(), TtrpcException.invalidArgument("unmarshal request error: %s", e));
        return;
      }
      if (shuttingDown) {
        respondError(frame.streamId(), TtrpcException.unavailable("ttrpc: server shutting down"));
        return;
      }
      Map<String, Handler> methods = services.get(request.getService());
      if (methods == null) {
        respondError(
            frame.streamId(), TtrpcException.unimplemented("service %s", request.getService()));
        return;
      }
      Handler handler = methods.get(request.getMethod());
      if (handler == null) {
        respondError(
            frame.streamId(), TtrpcException.unimplemented("method %s", request.getMethod()));
        return;
      }
      active.incrementAndGet();
      int streamId = frame.streamId();
      Thread.ofVirtual()
          .name("ttrpc-handler " + request.getService() + "/" + request.getMethod())
          .start(
              () -> {
                try {
                  handle(streamId, request, handler);
                } finally {
                  requestDone();
                }
              });
    }

    private void handle(int streamId, Request request, Handler handler) {
      Optional<Instant> deadline =
          request.getTimeoutNano() > 0
              ? Optional.of(Instant.now().plusNanos(request.getTimeoutNano()))
              : Optional.empty();
      List<Map.Entry<String, String>> metadata = new ArrayList<>(request.getMetadataCount());
      for (KeyValue kv : request.getMetadataList()) {
        metadata.add(Map.entry(kv.getKey(), kv.getValue()));
      }
      ServerCall call =
          new ServerCall(
              request.getService(),
              request.getMethod(),
              request.getPayload(),
              deadline,
              List.copyOf(metadata),
              () -> closed);
      Response response;
      try {
        MessageLite result = handler.handle(call);
        if (result == null) {
          throw new IllegalStateException(
              "handler of " + request.getService() + "/" + request.getMethod() + " returned null");
        }
        response = Response.newBuilder().setPayload(result.toByteString()).build();
      } catch (Exception | LinkageError | AssertionError e) {
        TtrpcException status = TtrpcException.from(e);
        if (!(e instanceof TtrpcException)) {
          LOG.log(
              Level.DEBUG,
              "ttrpc: " + request.getService() + "/" + request.getMethod() + " failed",
              e);
        }
        respondError(streamId, status);
        return;
      }
      if (response.getSerializedSize() > FrameChannel.MAX_PAYLOAD) {
        respondError(streamId, new MessageTooLargeException(response.getSerializedSize()));
        return;
      }
      send(streamId, response);
    }

    private void respondError(int streamId, TtrpcException e) {
      Status status = e.toStatus();
      send(streamId, Response.newBuilder().setStatus(status).build());
    }

    private void send(int streamId, Response response) {
      if (closed) {
        return;
      }
      try {
        channel.write(streamId, FrameChannel.TYPE_RESPONSE, (byte) 0, response.toByteArray());
      } catch (IOException e) {
        LOG.log(Level.DEBUG, "ttrpc: cannot send response, closing connection", e);
        close();
      }
    }

    void close() {
      closed = true;
      connections.remove(this);
      try {
        socket.close();
      } catch (IOException e) {
        LOG.log(Level.DEBUG, "ttrpc: closing connection", e);
      }
    }
  }
}
