package dev.lamina.services;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.io.UncheckedIOException;

/**
 * The one translation of lamina's error kinds into gRPC status codes (containerd's
 * {@code errdefs.ToGRPC}); the message of the error becomes the status description.
 */
public final class GrpcErrors {
  private GrpcErrors() {}

  public static Status.Code codeOf(ErrorKind kind) {
    return switch (kind) {
      case NOT_FOUND -> Status.Code.NOT_FOUND;
      case ALREADY_EXISTS -> Status.Code.ALREADY_EXISTS;
      case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
      case FAILED_PRECONDITION -> Status.Code.FAILED_PRECONDITION;
      case UNAVAILABLE -> Status.Code.UNAVAILABLE;
      case UNAUTHENTICATED -> Status.Code.UNAUTHENTICATED;
      case PERMISSION_DENIED -> Status.Code.PERMISSION_DENIED;
      case NOT_IMPLEMENTED -> Status.Code.UNIMPLEMENTED;
      case DATA_LOSS -> Status.Code.DATA_LOSS;
      case INTERNAL -> Status.Code.INTERNAL;
    };
  }

  /**
   * The status for any throwable: a gRPC status passes through; a {@link LaminaException} anywhere
   * in the cause chain gives its kind's code and its message; anything else is INTERNAL.
   */
  public static Status toStatus(Throwable t) {
    if (t instanceof StatusRuntimeException s) {
      return s.getStatus();
    }
    if (t instanceof StatusException s) {
      return s.getStatus();
    }
    Throwable cause = t instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : t;
    for (Throwable c = cause; c != null; c = c.getCause()) {
      if (c instanceof LaminaException le) {
        return Status.fromCode(codeOf(le.kind())).withDescription(describe(cause)).withCause(t);
      }
    }
    return Status.INTERNAL.withDescription(describe(cause)).withCause(t);
  }

  public static StatusRuntimeException toException(Throwable t) {
    return toStatus(t).asRuntimeException();
  }

  private static String describe(Throwable t) {
    return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
  }
}
