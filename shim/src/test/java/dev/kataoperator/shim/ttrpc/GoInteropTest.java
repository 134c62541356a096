package dev.kataoperator.shim.ttrpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.BytesValue;
import com.google.protobuf.Empty;
import com.google.protobuf.Int32Value;
import com.google.protobuf.Int64Value;
import com.google.protobuf.StringValue;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Interop with containerd's Go ttrpc (github.com/containerd/ttrpc v1.2.7, what containerd 1.6-2.2
 * and their shims use): our client against Go's server, Go's client against our server. The Go peer
 * is src/test/go/ttrpcpeer, built by the test.
 */
@Tag("tools")
@Timeout(120)
class GoInteropTest {
  static final String SVC = EchoService.SVC;
  static final Duration T = Duration.ofSeconds(10);
  static Path peer;

  @TempDir Path dir;
  Process goServer;

  @BeforeAll
  static void build() throws Exception {
    peer = GoBuild.binary("ttrpcpeer");
  }

  @AfterEach
  void stop() throws InterruptedException {
    if (goServer != null) {
      goServer.destroy();
      goServer.waitFor(5, TimeUnit.SECONDS);
    }
  }

  private Path startGoServer() throws IOException {
    Path socket = dir.resolve("go.sock");
    goServer =
        new ProcessBuilder(peer.toString(), "serve", socket.toString())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    BufferedReader out =
        new BufferedReader(
            new InputStreamReader(goServer.getInputStream(), StandardCharsets.UTF_8));
    assertEquals("listening", out.readLine());
    return socket;
  }

  @Test
  void javaClientAgainstGoServer() throws Exception {
    Path socket = startGoServer();
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      assertEquals(
          "from java",
          c.call(SVC, "Echo", StringValue.of("from java"), StringValue.parser(), T).getValue());

      // 200 concurrent calls; later ones sleep less, so Go answers them out of order.
      List<CompletableFuture<Int64Value>> calls = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        calls.add(c.callAsync(SVC, "Sleep", Int64Value.of(200 - i), Int64Value.parser(), T));
      }
      for (int i = 0; i < 200; i++) {
        assertEquals(200 - i, calls.get(i).get(20, TimeUnit.SECONDS).getValue());
      }

      // Go's status codes arrive as ours.
      for (Code code : List.of(Code.NOT_FOUND, Code.ALREADY_EXISTS, Code.FAILED_PRECONDITION)) {
        TtrpcException e =
            org.junit.jupiter.api.Assertions.assertThrows(
                TtrpcException.class,
                () -> c.call(SVC, "Fail", Int32Value.of(code.value()), Empty.parser(), T));
        assertEquals(code, e.code());
        assertEquals("failed with " + code.value(), e.statusMessage());
      }
      TtrpcException unimplemented =
          org.junit.jupiter.api.Assertions.assertThrows(
              TtrpcException.class,
              () -> c.call(SVC, "Missing", Empty.getDefaultInstance(), Empty.parser(), T));
      assertEquals(Code.UNIMPLEMENTED, unimplemented.code());

      // Our timeout_nano becomes the Go handler's context deadline.
      long left =
          c.call(
                  SVC,
                  "Deadline",
                  Empty.getDefaultInstance(),
                  Int64Value.parser(),
                  Duration.ofSeconds(30))
              .getValue();
      assertTrue(left > 25_000 && left <= 30_000, "Go saw " + left + " ms");
      assertEquals(
          -1,
          c.call(SVC, "Deadline", Empty.getDefaultInstance(), Int64Value.parser(), null)
              .getValue());

      // Metadata.
      assertEquals(
          "md-value",
          c.callAsync(
                  SVC,
                  "Metadata",
                  StringValue.of("x-key"),
                  StringValue.parser(),
                  T,
                  List.of(Map.entry("x-key", "md-value")))
              .get()
              .getValue());

      // A timeout on one call leaves the others alone.
      CompletableFuture<Int64Value> slow =
          c.callAsync(SVC, "Sleep", Int64Value.of(300), Int64Value.parser(), T);
      TtrpcException timeout =
          org.junit.jupiter.api.Assertions.assertThrows(
              TtrpcException.class,
              () ->
                  c.call(
                      SVC,
                      "Sleep",
                      Int64Value.of(3000),
                      Int64Value.parser(),
                      Duration.ofMillis(50)));
      assertEquals(Code.DEADLINE_EXCEEDED, timeout.code());
      assertEquals(300, slow.get().getValue());

      // Go's server takes (and echoes) a request close to the maximum.
      String nearMax = "a".repeat(FrameChannel.MAX_PAYLOAD - 1000);
      assertEquals(
          nearMax.length(),
          c.call(SVC, "Echo", StringValue.of(nearMax), StringValue.parser(), T)
              .getValue()
              .length());
    }
  }

  @Test
  void goServerDroppingTheConnectionFailsPendingCalls() throws Exception {
    Path socket = startGoServer();
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      CompletableFuture<Int64Value> pending =
          c.callAsync(SVC, "Sleep", Int64Value.of(5000), Int64Value.parser(), null);
      // Go refuses to send a response over 4 MiB and closes the connection.
      CompletableFuture<BytesValue> big =
          c.callAsync(SVC, "Big", Int32Value.of(5 << 20), BytesValue.parser(), null);
      for (CompletableFuture<?> f : List.of(big, pending)) {
        ExecutionException e =
            org.junit.jupiter.api.Assertions.assertThrows(
                ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
        assertEquals(Code.UNAVAILABLE, ((TtrpcException) e.getCause()).code());
      }
    }
  }

  @Test
  void goServerKilledMidCall() throws Exception {
    Path socket = startGoServer();
    try (TtrpcClient c = TtrpcClient.connect(socket)) {
      CompletableFuture<Int64Value> pending =
          c.callAsync(SVC, "Sleep", Int64Value.of(10_000), Int64Value.parser(), null);
      Thread.sleep(100);
      goServer.destroyForcibly().waitFor();
      ExecutionException e =
          org.junit.jupiter.api.Assertions.assertThrows(
              ExecutionException.class, () -> pending.get(10, TimeUnit.SECONDS));
      assertEquals(Code.UNAVAILABLE, ((TtrpcException) e.getCause()).code());
    }
  }

  @Test
  void goClientAgainstJavaServer() throws Exception {
    Path socket = dir.resolve("java.sock");
    TtrpcServer server = new EchoService().registerOn(new TtrpcServer()).start(socket);
    try {
      Process p =
          new ProcessBuilder(peer.toString(), "call", socket.toString())
              .redirectErrorStream(true)
              .start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(60, TimeUnit.SECONDS));
      assertEquals(0, p.exitValue(), out);
      for (String check :
          List.of(
              "echo",
              "concurrent",
              "status-code",
              "handler-exception",
              "unknown-method",
              "unknown-service",
              "deadline",
              "metadata",
              "big-response-refused",
              "still-usable")) {
        assertTrue(out.contains("ok " + check + "\n"), check + " in:\n" + out);
      }
    } finally {
      server.close();
    }
  }
}
