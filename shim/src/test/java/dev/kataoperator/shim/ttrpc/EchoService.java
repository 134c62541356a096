package dev.kataoperator.shim.ttrpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.BytesValue;
import com.google.protobuf.Empty;
import com.google.protobuf.Int32Value;
import com.google.protobuf.Int64Value;
import com.google.protobuf.StringValue;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one ttrpc service the tests serve, from Java and from the Go peer (shim/src/test/go/ttrpcpeer
 * implements the same methods): Echo, Sleep, Fail (with the code asked for), Boom (an unexpected
 * exception), BadArgument, Deadline (the time left, also kept in {@link #lastTimeoutNanos}),
 * Metadata, Big (a response of the size asked for) and Block (until {@link #release}).
 */
final class EchoService {
  static final String SVC = "kataoperator.test.Echo";

  /** What the last Deadline call saw: nanoseconds left, -1 for none, -2 before any call. */
  final AtomicLong lastTimeoutNanos = new AtomicLong(-2);

  /** Block calls return once this is counted down. */
  final CountDownLatch release = new CountDownLatch(1);

  /** Registers every method on {@code server}, which is returned. */
  TtrpcServer registerOn(TtrpcServer server) {
    return server
        .register(SVC, "Echo", StringValue.parser(), (req, call) -> req)
        .register(
            SVC,
            "Sleep",
            Int64Value.parser(),
            (req, call) -> {
              Thread.sleep(req.getValue());
              return req;
            })
        .register(
            SVC,
            "Fail",
            Int32Value.parser(),
            (req, call) -> {
              throw new TtrpcException(
                  Code.fromValue(req.getValue()), "failed with " + req.getValue());
            })
        .register(
            SVC,
            "Boom",
            Empty.parser(),
            (req, call) -> {
              throw new RuntimeException("boom");
            })
        .register(
            SVC,
            "BadArgument",
            Empty.parser(),
            (req, call) -> {
              throw new IllegalArgumentException("no good");
            })
        .register(
            SVC,
            "Deadline",
            Empty.parser(),
            (req, call) -> {
              long left =
                  call.deadline()
                      .map(d -> Duration.between(Instant.now(), d).toNanos())
                      .orElse(-1L);
              lastTimeoutNanos.set(left);
              return Int64Value.of(left < 0 ? -1 : Duration.ofNanos(left).toMillis());
            })
        .register(
            SVC,
            "Metadata",
            StringValue.parser(),
            (req, call) -> StringValue.of(call.metadata(req.getValue()).orElse("")))
        .register(
            SVC,
            "Big",
            Int32Value.parser(),
            (req, call) -> BytesValue.of(ByteString.copyFrom(new byte[req.getValue()])))
        .register(
            SVC,
            "Block",
            Empty.parser(),
            (req, call) -> {
              release.await();
              return Empty.getDefaultInstance();
            });
  }
}
