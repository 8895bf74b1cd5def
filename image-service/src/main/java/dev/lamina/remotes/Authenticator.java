package dev.lamina.remotes;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.remotes.auth.AuthChallenge;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.RegistryHost;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the {@code Authorization} of registry requests. It remembers each host's last challenge, so
 * later requests carry credentials from the start, and caches bearer tokens per (host, scopes,
 * credentials) until their {@code expires_in} runs out. Tokens fetched with one set of credentials
 * never serve a pull with other credentials, and a token is asked for the scope of the call at
 * hand (plus what a 401 for that call names), never for a scope remembered from another call.
 */
final class Authenticator {
  private static final Logger LOG = LoggerFactory.getLogger(Authenticator.class);
  private final TokenFetcher tokenFetcher;
  private final RegistryOptions options;
  private final ConcurrentMap<String, AuthChallenge> challenges = new ConcurrentHashMap<>();
  private final ConcurrentMap<TokenKey, Token> tokens = new ConcurrentHashMap<>();

  /** A cache key; the credentials appear only as a one-way fingerprint. */
  record TokenKey(String authority, String scopes, String credentials) {}

  Authenticator(TokenFetcher tokenFetcher, RegistryOptions options) {
    this.tokenFetcher = tokenFetcher;
    this.options = options;
  }

  /** The {@code Authorization} to send first, or null: none known to be needed yet. */
  String authorization(RegistryHost host, String scope, Credentials creds) throws LaminaException {
    if (!creds.registryToken().isEmpty()) {
      return "Bearer " + creds.registryToken();
    }
    AuthChallenge ch = challenges.get(host.authority());
    if (ch == null) {
      return null;
    }
    if (ch.isBasic()) {
      return creds.userPass().map(Credentials.UserPass::basicAuthorization).orElse(null);
    }
    if (ch.isBearer()) {
      // Only the call's own scope: the remembered challenge named the scope of whatever request
      // met it, most likely another repository of another pull. Should the registry want more
      // for this call, its 401 says so and onUnauthorized adds it.
      List<String> scopes = scopes("", scope);
      TokenKey key = new TokenKey(host.authority(), String.join(" ", scopes), creds.fingerprint());
      Token t = tokens.get(key);
      if (t == null || !t.usableAt(options.clock().instant())) {
        t = tokenFetcher.fetch(host, ch, scopes, creds);
        tokens.put(key, t);
      }
      return "Bearer " + t.value();
    }
    return null;
  }

  /**
   * Answers a 401: the {@code Authorization} to try next, or empty when nothing else can be tried
   * (no usable challenge, no credentials for Basic, the same credentials already refused, a registry
   * token refused).
   *
   * @param sent the {@code Authorization} the refused request carried, or null
   */
  Optional<String> onUnauthorized(
      RegistryHost host, String scope, Credentials creds, List<AuthChallenge> offered, String sent)
      throws LaminaException {
    AuthChallenge bearer = null;
    AuthChallenge basic = null;
    for (AuthChallenge c : offered) {
      if (c.isBearer() && bearer == null && !c.realm().isEmpty()) {
        bearer = c;
      } else if (c.isBasic() && basic == null) {
        basic = c;
      }
    }
    if (bearer != null) {
      challenges.put(host.authority(), bearer);
      if (!creds.registryToken().isEmpty()) {
        LOG.debug("{}: the registry token given with the pull was refused", host.authority());
        return Optional.empty(); // the caller's token is all there is
      }
      List<String> scopes = scopes(bearer.scope(), scope);
      TokenKey key = new TokenKey(host.authority(), String.join(" ", scopes), creds.fingerprint());
      if (sent != null) {
        tokens.computeIfPresent(key, (k, t) -> sent.equals("Bearer " + t.value()) ? null : t);
        Token cached = tokens.get(key);
        if (cached != null && cached.usableAt(options.clock().instant())
            && !sent.equals("Bearer " + cached.value())) {
          return Optional.of("Bearer " + cached.value()); // another call refreshed it meanwhile
        }
      }
      // Credentials print redacted; a token or header value is never logged.
      LOG.debug("{}: bearer challenge; asking {} for a token for {} with {}", host.authority(), bearer.realm(),
          scopes, creds);
      Token t = tokenFetcher.fetch(host, bearer, scopes, creds);
      tokens.put(key, t);
      return Optional.of("Bearer " + t.value());
    }
    if (basic != null) {
      challenges.put(host.authority(), basic);
      Optional<Credentials.UserPass> up = creds.userPass();
      if (up.isEmpty()) {
        return Optional.empty();
      }
      String h = up.get().basicAuthorization();
      LOG.debug("{}: basic challenge; answering with {}", host.authority(), up.get());
      return h.equals(sent) ? Optional.empty() : Optional.of(h);
    }
    return Optional.empty();
  }

  /** A challenge's scopes (space-separated) and the call's, sorted and without duplicates. */
  static List<String> scopes(String challenged, String scope) {
    TreeSet<String> all = new TreeSet<>();
    for (String s : challenged.split(" ")) {
      if (!s.isBlank()) {
        all.add(s.trim());
      }
    }
    if (scope != null && !scope.isEmpty()) {
      all.add(scope);
    }
    return new ArrayList<>(all);
  }

  /** Forgets every cached token (tests, credential rotation). */
  void clear() {
    tokens.clear();
    challenges.clear();
  }
}
