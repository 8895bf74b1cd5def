package dev.lamina.errdefs;

/** The fixed set of error classes; each maps to one gRPC status code at the service edge. */
public enum ErrorKind {
  NOT_FOUND,
  ALREADY_EXISTS,
  INVALID_ARGUMENT,
  FAILED_PRECONDITION,
  UNAVAILABLE,
  UNAUTHENTICATED,
  PERMISSION_DENIED,
  NOT_IMPLEMENTED,
  DATA_LOSS,
  INTERNAL
}
