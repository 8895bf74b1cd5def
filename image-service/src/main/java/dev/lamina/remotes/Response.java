package dev.lamina.remotes;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpHeaders;

/**
 * A registry response with its body still unread.
 *
 * @param status the HTTP status
 * @param headers the response headers
 * @param uri where the response came from, after redirects
 * @param redirected whether redirects led to another scheme, host or port than the request's
 * @param body the body, with the stall timeout
 */
record Response(int status, HttpHeaders headers, URI uri, boolean redirected, InputStream body)
    implements Closeable {
  static final int MAX_ERROR_BODY = 64 * 1024;

  String header(String name) {
    return headers.firstValue(name).orElse("");
  }

  /** Content-Length, or -1 when absent or malformed. */
  long contentLength() {
    try {
      return headers.firstValueAsLong("Content-Length").orElse(-1);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** Reads the whole body, failing with {@code tooLarge} when it exceeds {@code max} bytes. */
  byte[] readAll(int max, String what) throws IOException {
    long declared = contentLength();
    if (declared > max) {
      throw LaminaException.invalidArgument(
          what + " is " + declared + " bytes, more than the limit of " + max);
    }
    try (InputStream in = body) {
      byte[] data = in.readNBytes(max);
      if (data.length == max && in.read() >= 0) {
        throw LaminaException.invalidArgument(what + " is more than the limit of " + max + " bytes");
      }
      return data;
    }
  }

  /** Up to 64 KiB of an error body; never fails. */
  byte[] errorBody() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (InputStream in = body) {
      byte[] buf = new byte[8192];
      int n;
      while (out.size() < MAX_ERROR_BODY
          && (n = in.read(buf, 0, Math.min(buf.length, MAX_ERROR_BODY - out.size()))) > 0) {
        out.write(buf, 0, n);
      }
    } catch (IOException e) {
      // the status says enough
    }
    return out.toByteArray();
  }

  static LaminaException unavailable(String message, Throwable cause) {
    return new LaminaException(ErrorKind.UNAVAILABLE, message, cause);
  }

  @Override
  public void close() {
    try {
      body.close();
    } catch (IOException e) {
      // nothing to do
    }
  }
}
