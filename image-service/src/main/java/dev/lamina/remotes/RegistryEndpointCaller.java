package dev.lamina.remotes;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Json;
import dev.lamina.oci.MediaTypes;
import dev.lamina.remotes.auth.AuthChallenge;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.RegistryHost;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Calls a {@link RegistryEndpoint} on one host: adds credentials, answers 401 challenges (at most
 * {@code maxAuthRefreshes} times beyond the first), retries 429, 5xx and dropped connections with
 * exponential backoff and jitter (honouring {@code Retry-After}), and turns every other failure into
 * a {@link LaminaException} through {@link #classify}, the one place HTTP failures get their kind.
 */
final class RegistryEndpointCaller {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryEndpointCaller.class);

  private final Transport transport;
  private final Authenticator authenticator;
  private final RegistryOptions options;

  RegistryEndpointCaller(Transport transport, Authenticator authenticator, RegistryOptions options) {
    this.transport = transport;
    this.authenticator = authenticator;
    this.options = options;
  }

  Transport transport() {
    return transport;
  }

  /**
   * Calls {@code endpoint} on {@code host} for a repository.
   *
   * @param scope the token scope the call needs: {@code repository:library/busybox:pull}
   * @param creds the credentials for this host (anonymous when they do not apply to it)
   */
  <T> T call(RegistryHost host, String scope, Credentials creds, RegistryEndpoint<T> endpoint)
      throws LaminaException {
    String authorization = authenticator.authorization(host, scope, creds);
    int failures = 0;
    int authRounds = 0;
    while (true) {
      Transport.Request req =
          new Transport.Request(
              endpoint.method(), merge(host, endpoint), authorization, null, null,
              endpoint.description());
      Response r;
      try {
        r = transport.send(host, endpoint.route(), req);
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        failures++;
        if (!retriable(e) || failures >= options.maxAttempts()) {
          throw unreachable(endpoint.description(), host.authority(), host.uri(endpoint.route()), e, failures);
        }
        pause(endpoint.description(), host.authority(), failures, null, why(e, host.authority()));
        continue;
      }
      boolean handedOver = false;
      try {
        int s = r.status();
        if (s >= 200 && s < 300) {
          T result = endpoint.handleResponse(r);
          handedOver = true;
          return result;
        }
        byte[] body = r.errorBody();
        if (s == 401 && !r.redirected()) {
          if (authRounds <= options.maxAuthRefreshes()) {
            List<AuthChallenge> challenges = AuthChallenge.parse(r.headers().allValues("WWW-Authenticate"));
            Optional<String> next =
                authenticator.onUnauthorized(host, scope, creds, challenges, authorization);
            if (next.isPresent()) {
              authorization = next.get();
              authRounds++;
              continue;
            }
          }
          String note = authorization != null
              ? "the registry refused the " + (authorization.startsWith("Basic ") ? "credentials" : "token")
                  + (authRounds > 1 ? " " + authRounds + " times" : "")
              : creds.isAnonymous() ? "no credentials were given" : "";
          throw classify(s, r.headers(), body, endpoint.description(), endpoint.notFound(),
              host.authority(), note);
        }
        if (retriableStatus(s)) {
          failures++;
          if (failures < options.maxAttempts()) {
            pause(endpoint.description(), host.authority(), failures, retryAfter(r.headers()),
                "HTTP " + s);
            continue;
          }
        }
        throw classify(s, r.headers(), body, endpoint.description(), endpoint.notFound(),
            host.authority(), failures > 1 ? "gave up after " + failures + " attempts" : "");
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        // The body broke off while being read: a GET or HEAD can be sent again.
        failures++;
        if (!retriable(e) || failures >= options.maxAttempts()) {
          throw unreachable(endpoint.description(), host.authority(), host.uri(endpoint.route()), e, failures);
        }
        pause(endpoint.description(), host.authority(), failures, null, why(e, host.authority()));
      } finally {
        if (!handedOver) {
          r.close();
        }
      }
    }
  }

  /**
   * Sends one non-registry request (a token request to {@code uri}) with the same retries, without
   * the auth dance; a non-2xx answer is classified.
   */
  <T> T callRealm(
      RegistryHost tlsOf, URI uri, Transport.Request req, String description, Handler<T> handler)
      throws LaminaException {
    int failures = 0;
    while (true) {
      Response r;
      try {
        r = transport.sendTo(transport.effective(tlsOf), uri, req);
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        failures++;
        if (!retriable(e) || failures >= options.maxAttempts()) {
          throw unreachable(description, uri.getRawAuthority(), uri, e, failures);
        }
        pause(description, uri.getRawAuthority(), failures, null, why(e, uri.getRawAuthority()));
        continue;
      }
      try (r) {
        int s = r.status();
        if (s >= 200 && s < 300) {
          return handler.handle(r);
        }
        byte[] body = r.errorBody();
        if (retriableStatus(s)) {
          failures++;
          if (failures < options.maxAttempts()) {
            pause(description, uri.getRawAuthority(), failures, retryAfter(r.headers()),
                "HTTP " + s);
            continue;
          }
        }
        throw classify(s, r.headers(), body, description, description + ": not found",
            uri.getRawAuthority(), failures > 1 ? "gave up after " + failures + " attempts" : "");
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        failures++;
        if (!retriable(e) || failures >= options.maxAttempts()) {
          throw unreachable(description, uri.getRawAuthority(), uri, e, failures);
        }
        pause(description, uri.getRawAuthority(), failures, null, why(e, uri.getRawAuthority()));
      }
    }
  }

  interface Handler<T> {
    T handle(Response r) throws IOException;
  }

  private static java.util.Map<String, List<String>> merge(RegistryHost host, RegistryEndpoint<?> e) {
    java.util.Map<String, List<String>> h = new java.util.LinkedHashMap<>(host.headers());
    h.putAll(e.headers());
    return h;
  }

  static boolean retriableStatus(int s) {
    return s == 429 || s == 500 || s == 502 || s == 503 || s == 504 || (s > 505 && s < 600);
  }

  static boolean retriable(IOException e) {
    // TLS failures (certificates, protocol) do not heal by retrying; everything else may.
    return !(e instanceof SSLException) && !(e instanceof LaminaException);
  }

  private LaminaException unreachable(String what, String host, URI uri, IOException e, int attempts) {
    if (e instanceof LaminaException le) {
      return le;
    }
    NetworkFailures.Description d = NetworkFailures.describe(e, host, uri, options);
    return new LaminaException(
        ErrorKind.UNAVAILABLE,
        what + ": " + d.text() + (attempts > 1 ? " (tried " + attempts + " times)" : ""),
        e);
  }

  /** A retried failure in a word or two, for the log: {@code connection refused}, {@code dns}. */
  private String why(IOException e, String authority) {
    return NetworkFailures.describe(e, authority, null, options).cause().words();
  }

  /** Waits before retry number {@code failures}: Retry-After when given (capped), else backoff. */
  private void pause(String what, String host, int failures, Duration retryAfter, String why)
      throws LaminaException {
    Duration d = retryAfter != null ? min(retryAfter, options.maxRetryAfter()) : backoff(failures);
    LOG.warn("{}: {} from {}; retry {} of {} in {} ms", what, why, host, failures,
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

  /**
   * The one classification of HTTP failures: 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404
   * NOT_FOUND, 429 and 5xx UNAVAILABLE, other 4xx INVALID_ARGUMENT, anything else INTERNAL. The
   * message says what failed, on which host, and what the registry's JSON error body said.
   *
   * @param notFound the message of a 404, e.g. {@code blob unknown: sha256:...}
   * @param note extra context, or empty
   */
  static LaminaException classify(
      int status, HttpHeaders headers, byte[] body, String description, String notFound,
      String host, String note) {
    ErrorKind kind;
    if (status == 401) {
      kind = ErrorKind.UNAUTHENTICATED;
    } else if (status == 403) {
      kind = ErrorKind.PERMISSION_DENIED;
    } else if (status == 404) {
      kind = ErrorKind.NOT_FOUND;
    } else if (status == 429 || (status >= 500 && status < 600)) {
      kind = ErrorKind.UNAVAILABLE;
    } else if (status >= 400 && status < 500) {
      kind = ErrorKind.INVALID_ARGUMENT;
    } else {
      kind = ErrorKind.INTERNAL;
    }
    StringBuilder msg = new StringBuilder();
    msg.append(status == 404 ? notFound : description);
    msg.append(": ").append(host).append(" answered ").append(status);
    String reason = reason(status);
    if (!reason.isEmpty()) {
      msg.append(' ').append(reason);
    }
    String detail = errorDetail(body, headers);
    if (detail.isEmpty() && status == 401 && headers != null) {
      // A HEAD has no body: the challenge's error says why.
      for (AuthChallenge c : AuthChallenge.parse(headers.allValues("WWW-Authenticate"))) {
        if (!c.error().isEmpty()) {
          detail = c.error() + (c.param("error_description").isEmpty() ? "" : ": " + c.param("error_description"));
          break;
        }
      }
    }
    if (!detail.isEmpty()) {
      msg.append(": ").append(detail);
    }
    if (note != null && !note.isEmpty()) {
      msg.append(" (").append(note).append(')');
    }
    return new LaminaException(kind, msg.toString());
  }

  /**
   * What an error body says: the registry's {@code {"errors":[{"code","message"}]}}, a token server's
   * {@code {"details"}} or OAuth2 {@code {"error","error_description"}}, or a short, printable text.
   */
  static String errorDetail(byte[] body, HttpHeaders headers) {
    if (body == null || body.length == 0) {
      return "";
    }
    List<String> parts = new ArrayList<>();
    try {
      JsonNode root = Json.MAPPER.readTree(body);
      if (root != null && root.isObject()) {
        JsonNode errors = root.get("errors");
        if (errors != null && errors.isArray()) {
          for (JsonNode e : errors) {
            String code = e.path("code").asText("");
            String message = e.path("message").asText("");
            parts.add(code.isEmpty() ? message : message.isEmpty() ? code : code + ": " + message);
            if (parts.size() >= 5) {
              break;
            }
          }
        } else if (root.has("details")) {
          parts.add(root.path("details").asText(""));
        } else if (root.has("error")) {
          String d = root.path("error_description").asText("");
          parts.add(root.path("error").asText("") + (d.isEmpty() ? "" : ": " + d));
        } else if (root.has("message")) {
          parts.add(root.path("message").asText(""));
        }
      }
    } catch (IOException | RuntimeException e) {
      String ct = headers == null ? "" : MediaTypes.base(headers.firstValue("Content-Type").orElse(""));
      if (ct.startsWith("text/plain") || ct.isEmpty()) {
        parts.add(new String(body, 0, Math.min(body.length, 200), StandardCharsets.UTF_8).trim());
      }
    }
    String s = String.join("; ", parts);
    StringBuilder clean = new StringBuilder();
    for (int i = 0; i < s.length() && clean.length() < 300; i++) {
      char c = s.charAt(i);
      clean.append(c < ' ' || c == 127 ? ' ' : c);
    }
    return clean.toString().trim();
  }

  private static String reason(int status) {
    return switch (status) {
      case 400 -> "Bad Request";
      case 401 -> "Unauthorized";
      case 403 -> "Forbidden";
      case 404 -> "Not Found";
      case 405 -> "Method Not Allowed";
      case 416 -> "Range Not Satisfiable";
      case 429 -> "Too Many Requests";
      case 500 -> "Internal Server Error";
      case 502 -> "Bad Gateway";
      case 503 -> "Service Unavailable";
      case 504 -> "Gateway Timeout";
      default -> "";
    };
  }
}
