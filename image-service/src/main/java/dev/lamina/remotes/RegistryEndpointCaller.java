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
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Calls a {@link RegistryEndpoint} on one host: adds credentials, answers 401 challenges (at most
 * {@code maxAuthRefreshes} times beyond the first), retries 429, 5xx and dropped connections as
 * {@link Retries} says (backoff with jitter, honouring {@code Retry-After}), and turns every other
 * failure into a {@link LaminaException} through {@link #classify}, the one place HTTP failures
 * get their kind.
 */
final class RegistryEndpointCaller {
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
    Retries retries = new Retries(options, endpoint.description(), host.authority());
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
        retries.transportFailed(e, host.uri(endpoint.route()));
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
        if (retries.statusFailed(s, r.headers())) {
          continue;
        }
        throw classify(s, r.headers(), body, endpoint.description(), endpoint.notFound(),
            host.authority(), retries.note());
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        // The body broke off while being read: a GET or HEAD can be sent again.
        retries.transportFailed(e, host.uri(endpoint.route()));
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
    Retries retries = new Retries(options, description, uri.getRawAuthority());
    while (true) {
      Response r;
      try {
        r = transport.sendTo(transport.effective(tlsOf), uri, req);
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        retries.transportFailed(e, uri);
        continue;
      }
      try (r) {
        int s = r.status();
        if (s >= 200 && s < 300) {
          return handler.handle(r);
        }
        byte[] body = r.errorBody();
        if (retries.statusFailed(s, r.headers())) {
          continue;
        }
        throw classify(s, r.headers(), body, description, description + ": not found",
            uri.getRawAuthority(), retries.note());
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        retries.transportFailed(e, uri);
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
