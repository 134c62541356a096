package dev.kataoperator.shim.ttrpc;

/**
 * Status codes carried in a ttrpc response: the gRPC codes, with the same numbers, because Go's
 * ttrpc (and so containerd) uses google.golang.org/grpc/codes.
 */
public enum Code {
  OK,
  CANCELLED,
  UNKNOWN,
  INVALID_ARGUMENT,
  DEADLINE_EXCEEDED,
  NOT_FOUND,
  ALREADY_EXISTS,
  PERMISSION_DENIED,
  RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION,
  ABORTED,
  OUT_OF_RANGE,
  UNIMPLEMENTED,
  INTERNAL,
  UNAVAILABLE,
  DATA_LOSS,
  UNAUTHENTICATED;

  private static final Code[] VALUES = values();

  /** The wire value. */
  public int value() {
    return ordinal();
  }

  /** The code for a wire value; values this enum does not know are {@link #UNKNOWN}. */
  public static Code fromValue(int value) {
    return value >= 0 && value < VALUES.length ? VALUES[value] : UNKNOWN;
  }
}
