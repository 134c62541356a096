package dev.kataoperator.shim.ttrpc;

import com.google.protobuf.ByteString;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * What a server-side handler knows about the call it serves.
 *
 * @param deadline when the client stops waiting (from timeout_nano), if it said
 * @param metadata the request's key/value pairs, in order; keys may repeat
 */
public record ServerCall(
    String service,
    String method,
    ByteString payload,
    Optional<Instant> deadline,
    List<Map.Entry<String, String>> metadata,
    BooleanSupplier cancelledCheck) {

  /**
   * True once nobody will read the response: the connection is gone, the server was closed, or the
   * deadline passed. Long handlers may poll this; they are never interrupted.
   */
  public boolean isCancelled() {
    return cancelledCheck.getAsBoolean()
        || deadline.map(d -> Instant.now().isAfter(d)).orElse(false);
  }

  /** The first value of a metadata key. */
  public Optional<String> metadata(String key) {
    return metadata.stream()
        .filter(e -> e.getKey().equals(key))
        .map(Map.Entry::getValue)
        .findFirst();
  }
}
