package dev.lamina.remotes;

import java.util.List;
import java.util.Map;

/**
 * {@code GET /v2/}: the registry's version check. Unauthenticated it answers 401 with the challenge
 * that names the auth method; {@link RegistryEndpointCaller} answers that challenge, so a 2xx here
 * means the credentials are accepted (what {@code docker login} checks).
 */
final class AuthenticationMethodRetriever implements RegistryEndpoint<Boolean> {
  private final String registry;
  private final String query;

  AuthenticationMethodRetriever(String registry, String query) {
    this.registry = registry;
    this.query = query;
  }

  @Override
  public String method() {
    return "GET";
  }

  @Override
  public String route() {
    return query;
  }

  @Override
  public Map<String, List<String>> headers() {
    return Map.of();
  }

  @Override
  public Boolean handleResponse(Response r) {
    r.close();
    return Boolean.TRUE;
  }

  @Override
  public String description() {
    return "check access to " + registry;
  }

  @Override
  public String notFound() {
    return registry + " has no registry API (/v2/ not found)";
  }
}
