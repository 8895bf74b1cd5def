package dev.lamina.remotes;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Json;
import dev.lamina.remotes.auth.AuthChallenge;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.RegistryHost;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The token endpoint of the bearer flow (docker's token spec and its OAuth2 variant): a GET with
 * {@code service} and {@code scope} (and basic auth when there is a user), or, with an identity
 * token, a POST of {@code grant_type=refresh_token}. The answer's {@code token} or {@code
 * access_token} is used until {@code expires_in} (default 60 s) runs out.
 */
final class TokenFetcher {
  static final String CLIENT_ID = "lamina";
  private static final int MAX_TOKEN_RESPONSE = 1 << 20;

  private final RegistryOptions options;
  private RegistryEndpointCaller caller;

  TokenFetcher(RegistryOptions options) {
    this.options = options;
  }

  void setCaller(RegistryEndpointCaller caller) {
    this.caller = caller;
  }

  Token fetch(RegistryHost host, AuthChallenge challenge, List<String> scopes, Credentials creds)
      throws LaminaException {
    URI realm;
    try {
      realm = new URI(challenge.realm());
    } catch (URISyntaxException e) {
      throw LaminaException.invalidArgument(
          host.authority() + " sent an invalid token realm \"" + challenge.realm() + "\"");
    }
    String scheme = realm.getScheme() == null ? "" : realm.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("https") || scheme.equals("http")) || realm.getHost() == null) {
      throw LaminaException.invalidArgument(
          host.authority() + " sent a token realm that is not an http(s) URL: \"" + challenge.realm() + "\"");
    }
    String description =
        "fetch token for " + (scopes.isEmpty() ? "registry access" : String.join(" ", scopes))
            + " from " + realm.getScheme() + "://" + realm.getRawAuthority() + realm.getRawPath();
    Transport.Request req;
    URI uri;
    if (!creds.identityToken().isEmpty()) {
      StringBuilder form = new StringBuilder();
      form.append("grant_type=refresh_token");
      form.append("&refresh_token=").append(enc(creds.identityToken()));
      if (!challenge.service().isEmpty()) {
        form.append("&service=").append(enc(challenge.service()));
      }
      if (!scopes.isEmpty()) {
        form.append("&scope=").append(enc(String.join(" ", scopes)));
      }
      form.append("&client_id=").append(enc(CLIENT_ID));
      form.append("&access_type=offline");
      uri = realm;
      req = new Transport.Request(
          "POST", Map.of("Accept", List.of("application/json")), null,
          "application/x-www-form-urlencoded", form.toString().getBytes(StandardCharsets.UTF_8),
          description);
    } else {
      Optional<Credentials.UserPass> up = creds.userPass();
      StringBuilder q = new StringBuilder();
      if (!challenge.service().isEmpty()) {
        q.append("service=").append(enc(challenge.service()));
      }
      for (String s : scopes) {
        q.append(q.length() > 0 ? "&" : "").append("scope=").append(enc(s));
      }
      if (up.isPresent()) {
        q.append(q.length() > 0 ? "&" : "").append("account=").append(enc(up.get().username()));
      }
      String existing = realm.getRawQuery();
      String query = existing == null || existing.isEmpty() ? q.toString()
          : q.length() == 0 ? existing : existing + "&" + q;
      uri = URI.create(realm.getScheme() + "://" + realm.getRawAuthority()
          + (realm.getRawPath() == null ? "" : realm.getRawPath())
          + (query.isEmpty() ? "" : "?" + query));
      req = new Transport.Request(
          "GET", Map.of("Accept", List.of("application/json")),
          up.map(Credentials.UserPass::basicAuthorization).orElse(null), null, null, description);
    }
    Instant issued = options.clock().instant();
    return caller.callRealm(host, uri, req, description, r -> parse(r, issued, description));
  }

  private static Token parse(Response r, Instant issued, String description) throws IOException {
    byte[] body = r.readAll(MAX_TOKEN_RESPONSE, "token response");
    Json j = new Json("token response (" + description + ")");
    JsonNode root = j.object(j.read(body), "");
    String token = j.text(root, "token");
    if (token.isEmpty()) {
      token = j.text(root, "access_token");
    }
    if (token.isEmpty()) {
      throw new LaminaException(
          dev.lamina.errdefs.ErrorKind.UNAUTHENTICATED, description + ": the answer holds no token");
    }
    long expiresIn = root.path("expires_in").asLong(0);
    if (expiresIn <= 0) {
      expiresIn = 60;
    }
    // Stop using it a little early: a tenth of its life, at most 10 s.
    long marginMillis = Math.min(10_000, expiresIn * 100);
    Instant expires = issued.plus(Duration.ofSeconds(expiresIn)).minusMillis(marginMillis);
    return new Token(token, expires, j.text(root, "refresh_token"));
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
