package dev.kataoperator.shim.ttrpc;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.kataoperator.shim.ttrpc.proto.Status;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

/**
 * A failed ttrpc call: a status {@link Code} and a message, as received from the peer or as a
 * handler wants it sent. Unchecked so that it travels through lambdas and through layers (a handler
 * that calls the guest agent and gets NOT_FOUND may just let it propagate to containerd).
 *
 * <p>{@link #from(Throwable)} is the one place where arbitrary exceptions become codes.
 */
public class TtrpcException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final Code code;
  private final transient List<Any> details;

  public TtrpcException(Code code, String message) {
    this(code, message, null);
  }

  public TtrpcException(Code code, String message, Throwable cause) {
    this(code, message, List.of(), cause);
  }

  private TtrpcException(Code code, String message, List<Any> details, Throwable cause) {
    super(message == null ? "" : message, cause);
    if (code == Code.OK) {
      throw new IllegalArgumentException("a TtrpcException cannot carry OK");
    }
    this.code = code;
    this.details = List.copyOf(details);
  }

  public Code code() {
    return code;
  }

  /** The status message, without the code. */
  public String statusMessage() {
    return super.getMessage();
  }

  /** Status details as the peer sent them (google.rpc.Status.details); usually empty. */
  public List<Any> details() {
    return details;
  }

  /** "CODE: message", like Go's status error text. */
  @Override
  public String getMessage() {
    return code + ": " + super.getMessage();
  }

  /** The wire form of this exception. */
  public Status toStatus() {
    return Status.newBuilder()
        .setCode(code.value())
        .setMessage(statusMessage())
        .addAllDetails(details)
        .build();
  }

  /** The exception for a status received from a peer; null when the status is OK or absent. */
  public static TtrpcException fromStatus(Status status) {
    if (status == null || status.getCode() == 0) {
      return null;
    }
    return new TtrpcException(
        Code.fromValue(status.getCode()), status.getMessage(), status.getDetailsList(), null);
  }

  public static TtrpcException notFound(String format, Object... args) {
    return new TtrpcException(Code.NOT_FOUND, String.format(format, args));
  }

  public static TtrpcException alreadyExists(String format, Object... args) {
    return new TtrpcException(Code.ALREADY_EXISTS, String.format(format, args));
  }

  public static TtrpcException invalidArgument(String format, Object... args) {
    return new TtrpcException(Code.INVALID_ARGUMENT, String.format(format, args));
  }

  public static TtrpcException failedPrecondition(String format, Object... args) {
    return new TtrpcException(Code.FAILED_PRECONDITION, String.format(format, args));
  }

  public static TtrpcException unimplemented(String format, Object... args) {
    return new TtrpcException(Code.UNIMPLEMENTED, String.format(format, args));
  }

  public static TtrpcException unavailable(String format, Object... args) {
    return new TtrpcException(Code.UNAVAILABLE, String.format(format, args));
  }

  /**
   * Maps any throwable to a status. This is the single mapping used by the server for handler
   * failures and by the client for local failures:
   *
   * <ul>
   *   <li>{@link TtrpcException}: itself;
   *   <li>wrappers (ExecutionException, CompletionException): their cause;
   *   <li>UnsupportedOperationException: UNIMPLEMENTED;
   *   <li>IllegalArgumentException (and InvalidProtocolBufferException): INVALID_ARGUMENT;
   *   <li>IllegalStateException: FAILED_PRECONDITION;
   *   <li>NoSuchElementException, NoSuchFileException: NOT_FOUND;
   *   <li>FileAlreadyExistsException: ALREADY_EXISTS;
   *   <li>TimeoutException: DEADLINE_EXCEEDED;
   *   <li>InterruptedException, CancellationException: CANCELLED;
   *   <li>anything else: UNKNOWN, with the exception's class and message.
   * </ul>
   */
  public static TtrpcException from(Throwable t) {
    if (t instanceof TtrpcException e) {
      return e;
    }
    if ((t instanceof ExecutionException || t instanceof CompletionException)
        && t.getCause() != null) {
      return from(t.getCause());
    }
    String message = t.getMessage() != null ? t.getMessage() : t.getClass().getName();
    Code code =
        switch (t) {
          case UnsupportedOperationException _ -> Code.UNIMPLEMENTED;
          case InvalidProtocolBufferException _ -> Code.INVALID_ARGUMENT;
          case IllegalArgumentException _ -> Code.INVALID_ARGUMENT;
          case CancellationException _ -> Code.CANCELLED;
          case IllegalStateException _ -> Code.FAILED_PRECONDITION;
          case NoSuchElementException _ -> Code.NOT_FOUND;
          case NoSuchFileException _ -> Code.NOT_FOUND;
          case FileAlreadyExistsException _ -> Code.ALREADY_EXISTS;
          case TimeoutException _ -> Code.DEADLINE_EXCEEDED;
          case InterruptedException _ -> Code.CANCELLED;
          default -> {
            message = t.getClass().getSimpleName() + ": " + message;
            yield Code.UNKNOWN;
          }
        };
    return new TtrpcException(code, message, t);
  }
}
