package dev.kataoperator.shim.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.BytesValue;
import com.google.protobuf.Empty;
import com.google.protobuf.Int32Value;
import com.google.protobuf.Int64Value;
import com.google.protobuf.StringValue;
import dev.kataoperator.shim.ttrpc.proto.Request;
import dev.kataoperator.shim.ttrpc.proto.Response;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
@Timeout(60)
class TtrpcClientServerTest {
  static final String SVC = EchoService.SVC;
  static final Duration T = Duration.ofSeconds(10);

  @TempDir Path dir;
  Path socket;
  TtrpcServer server;
  final EchoService service = new EchoService();
  final AtomicLong lastTimeoutNanos = service.lastTimeoutNanos;
  final CountDownLatch release = service.release;

  @BeforeEach
  void startServer() throws IOException {
    socket = dir.resolve("s.sock");
    server = new TtrpcServer();
    service.registerOn(server).start(socket);
  }

  @AfterEach
  void stopServer() {
    release.countDown();
    server.shutdown(Duration.ofSeconds(2));
  }

  @Test
  void echo() throws IOException {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      assertEquals(
          "hi", c.call(SVC, "Echo", StringValue.of("hi"), StringValue.parser(), T).getValue());
      assertEquals("", c.call(SVC, "Echo", StringValue.of(""), StringValue.parser(), T).getValue());
    }
  }

  @Test
  void twoHundredParallelCallsCompleteOutOfOrder() throws Exception {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      List<CompletableFuture<Int64Value>> futures = new ArrayList<>();
      ConcurrentLinkedQueue<Long> completionOrder = new ConcurrentLinkedQueue<>();
      for (int i = 0; i < 200; i++) {
        long ms = 400 - 2L * i; // later calls finish first
        CompletableFuture<Int64Value> f =
            c.callAsync(SVC, "Sleep", Int64Value.of(ms), Int64Value.parser(), T);
        f.thenAccept(v -> completionOrder.add(v.getValue()));
        futures.add(f);
      }
      for (int i = 0; i < 200; i++) {
        assertEquals(400 - 2L * i, futures.get(i).get(20, TimeUnit.SECONDS).getValue());
      }
      List<Long> order = new ArrayList<>(completionOrder);
      assertTrue(order.indexOf(2L) < order.indexOf(400L), "short sleeps answered first: " + order);
      assertEquals(0, c.pendingCalls());
    }
  }

  @Test
  void concurrentBlockingCallersFromManyThreads() throws Exception {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      List<Thread> threads = new ArrayList<>();
      AtomicInteger ok = new AtomicInteger();
      for (int i = 0; i < 200; i++) {
        String v = "v" + i;
        threads.add(
            Thread.ofVirtual()
                .start(
                    () -> {
                      if (c.call(SVC, "Echo", StringValue.of(v), StringValue.parser(), T)
                          .getValue()
                          .equals(v)) {
                        ok.incrementAndGet();
                      }
                    }));
      }
      for (Thread t : threads) {
        t.join();
      }
      assertEquals(200, ok.get());
    }
  }

  @Test
  void unknownServiceAndMethodAreUnimplemented() throws IOException {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      TtrpcException e1 =
          assertThrows(
              TtrpcException.class,
              () -> c.call(SVC, "Nope", Empty.getDefaultInstance(), Empty.parser(), T));
      assertEquals(Code.UNIMPLEMENTED, e1.code());
      assertEquals("method Nope", e1.statusMessage());
      TtrpcException e2 =
          assertThrows(
              TtrpcException.class,
              () -> c.call("no.Such", "Echo", Empty.getDefaultInstance(), Empty.parser(), T));
      assertEquals(Code.UNIMPLEMENTED, e2.code());
      assertEquals("service no.Such", e2.statusMessage());
    }
  }

  @Test
  void handlerFailuresBecomeStatuses() throws IOException {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      TtrpcException notFound =
          assertThrows(
              TtrpcException.class, () -> c.call(SVC, "Fail", Int32Value.of(5), Empty.parser(), T));
      assertEquals(Code.NOT_FOUND, notFound.code());
      assertEquals("failed with 5", notFound.statusMessage());
      assertEquals("NOT_FOUND: failed with 5", notFound.getMessage());

      TtrpcException boom =
          assertThrows(
              TtrpcException.class,
              () -> c.call(SVC, "Boom", Empty.getDefaultInstance(), Empty.parser(), T));
      assertEquals(Code.UNKNOWN, boom.code());
      assertEquals("RuntimeException: boom", boom.statusMessage());

      TtrpcException bad =
          assertThrows(
              TtrpcException.class,
              () -> c.call(SVC, "BadArgument", Empty.getDefaultInstance(), Empty.parser(), T));
      assertEquals(Code.INVALID_ARGUMENT, bad.code());

      // A request that does not parse as the method's message.
      TtrpcException garbage =
          assertThrows(
              TtrpcException.class,
              () ->
                  c.call(
                      SVC,
                      "Echo",
                      BytesValue.of(ByteString.copyFrom(new byte[] {(byte) 0xff, 1})),
                      Empty.parser(),
                      T));
      assertEquals(Code.INVALID_ARGUMENT, garbage.code());
      // The connection is still fine.
      assertEquals(
          "ok", c.call(SVC, "Echo", StringValue.of("ok"), StringValue.parser(), T).getValue());
    }
  }

  @Test
  void timeoutFailsOnlyThatCallAndIsSentToTheServer() throws Exception {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      CompletableFuture<Int64Value> slow =
          c.callAsync(SVC, "Sleep", Int64Value.of(300), Int64Value.parser(), T);
      long start = System.nanoTime();
      TtrpcException e =
          assertThrows(
              TtrpcException.class,
              () ->
                  c.call(
                      SVC,
                      "Sleep",
                      Int64Value.of(5000),
                      Int64Value.parser(),
                      Duration.ofMillis(100)));
      long tookMs = (System.nanoTime() - start) / 1_000_000;
      assertEquals(Code.DEADLINE_EXCEEDED, e.code());
      assertTrue(tookMs < 2000, "timed out after " + tookMs + " ms");
      assertEquals(300, slow.get().getValue());
      assertFalse(c.isClosed());

      c.call(SVC, "Deadline", Empty.getDefaultInstance(), Empty.parser(), Duration.ofSeconds(30));
      assertTrue(
          lastTimeoutNanos.get() > Duration.ofSeconds(25).toNanos(),
          "server saw timeout " + lastTimeoutNanos.get());
      c.call(SVC, "Deadline", Empty.getDefaultInstance(), Empty.parser(), null);
      assertEquals(-1, lastTimeoutNanos.get());
    }
  }

  @Test
  void metadataReachesTheHandler() throws Exception {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      StringValue v =
          c.callAsync(
                  SVC,
                  "Metadata",
                  StringValue.of("k"),
                  StringValue.parser(),
                  T,
                  List.of(Map.entry("k", "v1"), Map.entry("k", "v2")))
              .get();
      assertEquals("v1", v.getValue());
    }
  }

  @Test
  void oversizedRequestFailsLocallyAndTheConnectionStaysUsable() throws IOException {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      BytesValue big = BytesValue.of(ByteString.copyFrom(new byte[FrameChannel.MAX_PAYLOAD]));
      TtrpcException e =
          assertThrows(
              TtrpcException.class, () -> c.call(SVC, "Echo", big, BytesValue.parser(), T));
      assertInstanceOf(MessageTooLargeException.class, e);
      assertEquals(Code.RESOURCE_EXHAUSTED, e.code());
      assertEquals(
          "x", c.call(SVC, "Echo", StringValue.of("x"), StringValue.parser(), T).getValue());
    }
  }

  @Test
  void oversizedResponseBecomesResourceExhausted() throws IOException {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      TtrpcException e =
          assertThrows(
              TtrpcException.class,
              () -> c.call(SVC, "Big", Int32Value.of(5 << 20), BytesValue.parser(), T));
      assertEquals(Code.RESOURCE_EXHAUSTED, e.code());
      // A response just under the limit still works.
      assertEquals(
          (4 << 20) - 100,
          c.call(SVC, "Big", Int32Value.of((4 << 20) - 100), BytesValue.parser(), T)
              .getValue()
              .size());
    }
  }

  @Test
  void serverAnswersAnOversizedFrameOnItsStreamAndKeepsTheConnection() throws Exception {
    try (SocketChannel raw = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      long announced = FrameChannel.MAX_PAYLOAD + 10L;
      raw.write(FrameChannel.encodeHeader(announced, 1, FrameChannel.TYPE_REQUEST, (byte) 0));
      ByteBuffer zeros = ByteBuffer.allocate((int) announced);
      while (zeros.hasRemaining()) {
        raw.write(zeros);
      }
      FrameChannel ch = new FrameChannel(raw);
      FrameChannel.Frame f = ch.read();
      assertEquals(1, f.streamId());
      assertEquals(FrameChannel.TYPE_RESPONSE, f.type());
      Response r = Response.parseFrom(f.payload());
      assertEquals(Code.RESOURCE_EXHAUSTED.value(), r.getStatus().getCode());

      // Then a normal request on the same connection.
      Request req =
          Request.newBuilder()
              .setService(SVC)
              .setMethod("Echo")
              .setPayload(StringValue.of("after").toByteString())
              .build();
      ch.write(3, FrameChannel.TYPE_REQUEST, (byte) 0, req.toByteArray());
      FrameChannel.Frame f2 = ch.read();
      assertEquals(3, f2.streamId());
      assertEquals(
          "after", StringValue.parseFrom(Response.parseFrom(f2.payload()).getPayload()).getValue());

      // Even and re-used stream ids are refused on their stream.
      ch.write(4, FrameChannel.TYPE_REQUEST, (byte) 0, req.toByteArray());
      FrameChannel.Frame even = ch.read();
      assertEquals(4, even.streamId());
      assertEquals(
          Code.INVALID_ARGUMENT.value(), Response.parseFrom(even.payload()).getStatus().getCode());
      ch.write(3, FrameChannel.TYPE_REQUEST, (byte) 0, req.toByteArray());
      FrameChannel.Frame reused = ch.read();
      assertEquals(
          Code.INVALID_ARGUMENT.value(),
          Response.parseFrom(reused.payload()).getStatus().getCode());
    }
  }

  /** A hand-written server, to make the client face what a correct server would never send. */
  private static ServerSocketChannel rawServer(Path path) throws IOException {
    ServerSocketChannel ss = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    ss.bind(UnixDomainSocketAddress.of(path));
    return ss;
  }

  @Test
  void clientFailsOnlyTheStreamOfAnOversizedResponse() throws Exception {
    Path p = dir.resolve("raw.sock");
    try (ServerSocketChannel ss = rawServer(p);
        TtrpcClient c = TtrpcClient.connect(p);
        SocketChannel peer = ss.accept()) {
      FrameChannel ch = new FrameChannel(peer);
      CompletableFuture<StringValue> first =
          c.callAsync(SVC, "Echo", StringValue.of("a"), StringValue.parser(), T);
      CompletableFuture<StringValue> second =
          c.callAsync(SVC, "Echo", StringValue.of("b"), StringValue.parser(), T);
      FrameChannel.Frame r1 = ch.read();
      FrameChannel.Frame r2 = ch.read();
      assertEquals(1, r1.streamId());
      assertEquals(3, r2.streamId());
      long announced = FrameChannel.MAX_PAYLOAD + 1L;
      peer.write(FrameChannel.encodeHeader(announced, 1, FrameChannel.TYPE_RESPONSE, (byte) 0));
      ByteBuffer zeros = ByteBuffer.allocate((int) announced);
      while (zeros.hasRemaining()) {
        peer.write(zeros);
      }
      Response ok = Response.newBuilder().setPayload(StringValue.of("b").toByteString()).build();
      ch.write(3, FrameChannel.TYPE_RESPONSE, (byte) 0, ok.toByteArray());
      ExecutionException e = assertThrows(ExecutionException.class, first::get);
      assertEquals(Code.RESOURCE_EXHAUSTED, ((TtrpcException) e.getCause()).code());
      assertEquals("b", second.get().getValue());
      assertFalse(c.isClosed());
    }
  }

  @Test
  void peerClosingMidCallFailsPendingCallsWithUnavailable() throws Exception {
    Path p = dir.resolve("raw.sock");
    try (ServerSocketChannel ss = rawServer(p);
        TtrpcClient c = TtrpcClient.connect(p)) {
      SocketChannel peer = ss.accept();
      List<CompletableFuture<StringValue>> calls = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        calls.add(c.callAsync(SVC, "Echo", StringValue.of("x"), StringValue.parser(), null));
      }
      FrameChannel ch = new FrameChannel(peer);
      for (int i = 0; i < 5; i++) {
        assertEquals(2 * i + 1, ch.read().streamId());
      }
      // Half a frame, then gone.
      peer.write(FrameChannel.encodeHeader(100, 1, FrameChannel.TYPE_RESPONSE, (byte) 0));
      peer.close();
      for (CompletableFuture<StringValue> f : calls) {
        ExecutionException e =
            assertThrows(ExecutionException.class, () -> f.get(5, TimeUnit.SECONDS));
        assertEquals(Code.UNAVAILABLE, ((TtrpcException) e.getCause()).code());
      }
      c.closeFuture().get(5, TimeUnit.SECONDS);
      assertTrue(c.isClosed());
      TtrpcException later =
          assertThrows(
              TtrpcException.class,
              () -> c.call(SVC, "Echo", StringValue.of("x"), StringValue.parser(), T));
      assertEquals(Code.UNAVAILABLE, later.code());
    }
  }

  @Test
  void closingTheClientFailsPendingCalls() throws Exception {
    TtrpcClient c = TtrpcClient.connect(socket);
    CompletableFuture<Empty> blocked =
        c.callAsync(SVC, "Block", Empty.getDefaultInstance(), Empty.parser(), null);
    c.close();
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> blocked.get(5, TimeUnit.SECONDS));
    assertEquals(Code.UNAVAILABLE, ((TtrpcException) e.getCause()).code());
  }

  @Test
  void callbacksMayMakeBlockingCallsOnTheSameClient() throws Exception {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      String nested =
          c.callAsync(SVC, "Echo", StringValue.of("outer"), StringValue.parser(), T)
              .thenApply(
                  outer ->
                      c.call(
                              SVC,
                              "Echo",
                              StringValue.of(outer.getValue() + "+inner"),
                              StringValue.parser(),
                              T)
                          .getValue())
              .get(10, TimeUnit.SECONDS);
      assertEquals("outer+inner", nested);
    }
  }

  @Test
  void gracefulShutdownFinishesRunningRequestsAndRefusesNewOnes() throws Exception {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      CompletableFuture<Empty> running =
          c.callAsync(SVC, "Block", Empty.getDefaultInstance(), Empty.parser(), T);
      while (server.activeRequests() == 0) {
        Thread.sleep(5);
      }
      Thread stopper = Thread.ofVirtual().start(() -> server.shutdown(Duration.ofSeconds(10)));
      Thread.sleep(100);
      // Shutting down: new requests are refused, the running one is still waited for.
      TtrpcException refused =
          assertThrows(
              TtrpcException.class,
              () -> c.call(SVC, "Echo", StringValue.of("late"), StringValue.parser(), T));
      assertEquals(Code.UNAVAILABLE, refused.code());
      assertFalse(running.isDone());
      release.countDown();
      running.get(5, TimeUnit.SECONDS);
      stopper.join();
      server.terminationFuture().get(5, TimeUnit.SECONDS);
      c.closeFuture().get(5, TimeUnit.SECONDS);
      assertFalse(java.nio.file.Files.exists(socket), "socket file removed");
      assertThrows(IOException.class, () -> TtrpcClient.connect(socket));
    }
  }

  @Test
  void shutdownGivesUpAfterTheGracePeriod() throws Exception {
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      CompletableFuture<Empty> stuck =
          c.callAsync(SVC, "Block", Empty.getDefaultInstance(), Empty.parser(), null);
      while (server.activeRequests() == 0) {
        Thread.sleep(5);
      }
      long start = System.nanoTime();
      server.shutdown(Duration.ofMillis(200));
      assertTrue(System.nanoTime() - start < Duration.ofSeconds(3).toNanos());
      ExecutionException e =
          assertThrows(ExecutionException.class, () -> stuck.get(5, TimeUnit.SECONDS));
      assertEquals(Code.UNAVAILABLE, ((TtrpcException) e.getCause()).code());
    }
  }

  @Test
  void servesOnAnAlreadyBoundSocket() throws Exception {
    Path p = dir.resolve("prebound.sock");
    ServerSocketChannel ss = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    ss.bind(UnixDomainSocketAddress.of(p));
    TtrpcServer s2 =
        new TtrpcServer()
            .register(
                SVC,
                "Echo",
                StringValue.parser(),
                (req, call) -> StringValue.of("2:" + req.getValue()))
            .start(ss);
    try (TtrpcClient c = TtrpcClient.connect(p)) {
      assertEquals(
          "2:x", c.call(SVC, "Echo", StringValue.of("x"), StringValue.parser(), T).getValue());
    } finally {
      s2.close();
    }
    assertFalse(ss.isOpen());
  }

  @Test
  void duplicateRegistrationIsRefused() {
    assertThrows(
        IllegalStateException.class,
        () -> server.register(SVC, "Echo", StringValue.parser(), (r, c) -> r));
  }

  @Test
  void exceptionMappingIsOnePlace() {
    assertEquals(
        Code.UNIMPLEMENTED, TtrpcException.from(new UnsupportedOperationException()).code());
    assertEquals(
        Code.NOT_FOUND, TtrpcException.from(new java.util.NoSuchElementException("x")).code());
    assertEquals(
        Code.FAILED_PRECONDITION, TtrpcException.from(new IllegalStateException("x")).code());
    assertEquals(
        Code.CANCELLED,
        TtrpcException.from(new java.util.concurrent.CancellationException()).code());
    assertEquals(
        Code.NOT_FOUND,
        TtrpcException.from(new ExecutionException(TtrpcException.notFound("container %s", "c1")))
            .code());
    assertEquals(Code.UNKNOWN, TtrpcException.from(new IOException("disk")).code());
    assertEquals("IOException: disk", TtrpcException.from(new IOException("disk")).statusMessage());
    assertEquals(Code.UNKNOWN, Code.fromValue(99));
  }
}
