package dev.lamina.errdefs;

import java.io.IOException;

/**
 * An error with a class from {@link ErrorKind}. It is an {@link IOException} so it travels through
 * stream code unchanged; callers decide by {@link #kind()}, never by message.
 */
public class LaminaException extends IOException {
  private final ErrorKind kind;

  public LaminaException(ErrorKind kind, String message) {
    super(message);
    this.kind = kind;
  }

  public LaminaException(ErrorKind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public ErrorKind kind() {
    return kind;
  }

  public static LaminaException notFound(String message) {
    return new LaminaException(ErrorKind.NOT_FOUND, message);
  }

  public static LaminaException alreadyExists(String message) {
    return new LaminaException(ErrorKind.ALREADY_EXISTS, message);
  }

  public static LaminaException invalidArgument(String message) {
    return new LaminaException(ErrorKind.INVALID_ARGUMENT, message);
  }

  public static LaminaException failedPrecondition(String message) {
    return new LaminaException(ErrorKind.FAILED_PRECONDITION, message);
  }

  public static LaminaException notImplemented(String message) {
    return new LaminaException(ErrorKind.NOT_IMPLEMENTED, message);
  }

  public static LaminaException dataLoss(String message) {
    return new LaminaException(ErrorKind.DATA_LOSS, message);
  }

  /** The kind of any throwable: its own when it is a {@code LaminaException}, else INTERNAL. */
  public static ErrorKind kindOf(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof LaminaException le) {
        return le.kind();
      }
    }
    return ErrorKind.INTERNAL;
  }
}
