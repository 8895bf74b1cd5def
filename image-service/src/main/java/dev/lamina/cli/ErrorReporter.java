package dev.lamina.cli;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import picocli.CommandLine;

/** Prints a failed command's error as one line naming what failed, with no stack trace. */
final class ErrorReporter implements CommandLine.IExecutionExceptionHandler {
  @Override
  public int handleExecutionException(Exception ex, CommandLine cl, CommandLine.ParseResult parsed) {
    ErrorKind kind = LaminaException.kindOf(ex);
    String message = ex.getMessage() == null ? ex.toString() : ex.getMessage();
    cl.getErr().println("lamina: " + message);
    if (kind == ErrorKind.INTERNAL && !(ex instanceof java.io.IOException)) {
      ex.printStackTrace(cl.getErr());
    }
    if (System.getenv("LAMINA_DEBUG") != null) {
      ex.printStackTrace(cl.getErr());
    }
    cl.getErr().flush();
    return 1;
  }
}
