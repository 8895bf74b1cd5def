package dev.lamina.remotes;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.concurrent.ThreadLocalRandom;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The retries of one call to a registry or its token server, the one retry policy of the registry
 * client: at most {@code maxAttempts} attempts; a dropped or refused connection and 429 and 5xx
 * answers are tried again after exponential backoff with jitter (or the {@code Retry-After} the
 * registry asked for, capped); TLS failures never (they do not heal by retrying). Each retry is
 * logged with its cause in words.
 */
final class Retries {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryEndpointCaller.class);

  private final RegistryOptions options;
  private final String what;
  private final String authority;
  private int failures;

  /**
   * @param what the call, for the log and errors: {@code fetch manifest sha256:... of library/busybox}
   * @param authority the host it goes to
   */
  Retries(RegistryOptions options, String what, String authority) {
    this.options = options;
    this.what = what;
    this.authority = authority;
  }

  /**
   * The request to {@code uri} failed in transport: returns once it may be sent again (after the
   * wait), else throws the failure, UNAVAILABLE and described in words.
   */
  void transportFailed(IOException e, URI uri) throws LaminaException {
    failures++;
    if (!retriable(e) || failures >= options.maxAttempts()) {
      throw unreachable(e, uri);
    }
    pause(null, NetworkFailures.describe(e, authority, null, options).cause().words());
  }

  /**
   * The registry answered {@code status}: true once the request may be sent again (after the
   * wait), false when the status is final or the attempts are used up.
   */
  boolean statusFailed(int status, HttpHeaders headers) throws LaminaException {
    if (!retriableStatus(status)) {
      return false;
    }
    failures++;
    if (failures >= options.maxAttempts()) {
      return false;
    }
    pause(retryAfter(headers), "HTTP " + status);
    return true;
  }

  /** For the error of a call that failed at last: how many attempts it took, or empty. */
  String note() {
    return failures > 1 ? "gave up after " + failures + " attempts" : "";
  }

  static boolean retriableStatus(int s) {
    return s == 429 || s == 500 || s == 502 || s == 503 || s == 504 || (s > 505 && s < 600);
  }

  static boolean retriable(IOException e) {
    return !(e instanceof SSLException) && !(e instanceof LaminaException);
  }

  private LaminaException unreachable(IOException e, URI uri) {
    if (e instanceof LaminaException le) {
      return le;
    }
    NetworkFailures.Description d = NetworkFailures.describe(e, authority, uri, options);
    return new LaminaException(ErrorKind.UNAVAILABLE,
        what + ": " + d.text() + (failures > 1 ? " (tried " + failures + " times)" : ""), e);
  }

  /** Waits before retry number {@code failures}: Retry-After when given (capped), else backoff. */
  private void pause(Duration retryAfter, String why) throws LaminaException {
    Duration d = retryAfter != null ? min(retryAfter, options.maxRetryAfter()) : backoff(failures);
    LOG.warn("{}: {} from {}; retry {} of {} in {} ms", what, why, authority, failures,
        options.maxAttempts() - 1, d.toMillis());
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new LaminaException(ErrorKind.UNAVAILABLE, what + ": interrupted while waiting to retry", e);
    }
  }

  /** Exponential backoff with "equal jitter": half fixed, half random. */
  Duration backoff(int failures) {
    long base = options.initialBackoff().toMillis();
    long cap = options.maxBackoff().toMillis();
    long exp = base << Math.min(failures - 1, 20);
    long d = Math.min(cap, exp < 0 ? cap : exp);
    long half = d / 2;
    return Duration.ofMillis(half + (half > 0 ? ThreadLocalRandom.current().nextLong(half + 1) : 0));
  }

  private static Duration min(Duration a, Duration b) {
    return a.compareTo(b) <= 0 ? a : b;
  }

  /** {@code Retry-After} as seconds or an HTTP date; null when absent or unreadable. */
  Duration retryAfter(HttpHeaders headers) {
    String v = headers.firstValue("Retry-After").orElse("").trim();
    if (v.isEmpty()) {
      return null;
    }
    try {
      long s = Long.parseLong(v);
      return s < 0 ? null : Duration.ofSeconds(s);
    } catch (NumberFormatException e) {
      try {
        Instant at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
        Duration d = Duration.between(options.clock().instant(), at);
        return d.isNegative() ? Duration.ZERO : d;
      } catch (DateTimeParseException e2) {
        return null;
      }
    }
  }
}
