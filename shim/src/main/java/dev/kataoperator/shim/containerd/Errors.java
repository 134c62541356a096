package dev.kataoperator.shim.containerd;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.kataoperator.shim.errors.ShimException;
import dev.kataoperator.shim.ttrpc.Code;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

/**
 * The one place where the shim's failures become the ttrpc statuses containerd sees (as
 * containerd's own shim library maps its errors in one place).
 *
 * <p>The cause chain is followed from the top: the first failure that says what class of failure it
 * is decides the code: a {@link TtrpcException} (a status, e.g. from the guest agent), a {@link
 * ShimException} whose kind is not INTERNAL, or a JDK exception with an obvious meaning. A
 * ShimException of kind INTERNAL defers to its cause, so a sandbox failure caused by the agent's
 * NOT_FOUND reaches containerd as NOT_FOUND. The message is always the top failure's, which names
 * the operation. Nothing decisive: UNKNOWN.
 */
public final class Errors {
  private Errors() {}

  /** The status containerd gets for {@code failure}. */
  public static TtrpcException toStatus(Throwable failure) {
    Throwable top = unwrap(failure);
    if (top instanceof TtrpcException t) {
      return t;
    }
    Code code = Code.UNKNOWN;
    for (Throwable t = top; t != null; t = t.getCause() == t ? null : t.getCause()) {
      Optional<Code> decided = codeOf(unwrap(t));
      if (decided.isPresent()) {
        code = decided.get();
        break;
      }
    }
    return new TtrpcException(code, message(top), failure);
  }

  /** Whether a status stands for a failure of the shim itself rather than of the request. */
  public static boolean unexpected(TtrpcException status) {
    return status.code() == Code.UNKNOWN || status.code() == Code.INTERNAL;
  }

  private static Optional<Code> codeOf(Throwable t) {
    return Optional.ofNullable(
        switch (t) {
          case TtrpcException e -> e.code();
          case ShimException e -> e.kind() == ShimException.Kind.INTERNAL ? null : code(e.kind());
          case UnsupportedOperationException _ -> Code.UNIMPLEMENTED;
          case InvalidProtocolBufferException _ -> Code.INVALID_ARGUMENT;
          case IllegalArgumentException _ -> Code.INVALID_ARGUMENT;
          case InterruptedException _, CancellationException _ -> Code.CANCELLED;
          case IllegalStateException _ -> Code.FAILED_PRECONDITION;
          case NoSuchElementException _, NoSuchFileException _ -> Code.NOT_FOUND;
          case FileAlreadyExistsException _ -> Code.ALREADY_EXISTS;
          case TimeoutException _ -> Code.DEADLINE_EXCEEDED;
          default -> null;
        });
  }

  static Code code(ShimException.Kind kind) {
    return switch (kind) {
      case NOT_FOUND -> Code.NOT_FOUND;
      case ALREADY_EXISTS -> Code.ALREADY_EXISTS;
      case INVALID_ARGUMENT -> Code.INVALID_ARGUMENT;
      case FAILED_PRECONDITION -> Code.FAILED_PRECONDITION;
      case UNAVAILABLE -> Code.UNAVAILABLE;
      case DEADLINE_EXCEEDED -> Code.DEADLINE_EXCEEDED;
      case UNIMPLEMENTED -> Code.UNIMPLEMENTED;
      case RESOURCE_EXHAUSTED -> Code.RESOURCE_EXHAUSTED;
      case PERMISSION_DENIED -> Code.PERMISSION_DENIED;
      case CANCELLED -> Code.CANCELLED;
      case INTERNAL -> Code.INTERNAL;
    };
  }

  /** Wrappers that only carry another failure. */
  private static Throwable unwrap(Throwable t) {
    while ((t instanceof ExecutionException
            || t instanceof CompletionException
            || t instanceof InvocationTargetException
            || t instanceof UncheckedIOException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** The failure's own words; the class name only where it is not a failure we know. */
  private static String message(Throwable t) {
    String m = t.getMessage();
    if (m == null) {
      return t.getClass().getName();
    }
    return t instanceof ShimException || codeOf(t).isPresent()
        ? m
        : t.getClass().getSimpleName() + ": " + m;
  }
}
