package dev.lamina.remotes.auth;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Registry credentials, one field for each field of CRI's {@code runtime.v1.AuthConfig}. Secrets are
 * never printed: {@link #toString()} redacts them.
 *
 * @param username {@code username}
 * @param password {@code password}
 * @param auth {@code auth}: base64 of {@code user:password}
 * @param serverAddress {@code server_address}: when set, the credentials go only to that registry
 * @param identityToken {@code identity_token}: an OAuth2 refresh token for the token server
 * @param registryToken {@code registry_token}: a bearer token sent to the registry as it is
 */
public record Credentials(
    String username,
    String password,
    String auth,
    String serverAddress,
    String identityToken,
    String registryToken) {
  private static final Set<String> DOCKER_HUB =
      Set.of("docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com");
  private static final Credentials ANONYMOUS = new Credentials("", "", "", "", "", "");

  public Credentials {
    username = username == null ? "" : username;
    password = password == null ? "" : password;
    auth = auth == null ? "" : auth;
    serverAddress = serverAddress == null ? "" : serverAddress;
    identityToken = identityToken == null ? "" : identityToken;
    registryToken = registryToken == null ? "" : registryToken;
  }

  public static Credentials anonymous() {
    return ANONYMOUS;
  }

  public static Credentials basic(String username, String password) {
    return new Credentials(username, password, "", "", "", "");
  }

  public static Credentials identityToken(String token) {
    return new Credentials("", "", "", "", token, "");
  }

  public static Credentials registryToken(String token) {
    return new Credentials("", "", "", "", "", token);
  }

  public Credentials withServerAddress(String address) {
    return new Credentials(username, password, auth, address, identityToken, registryToken);
  }

  public boolean isAnonymous() {
    return username.isEmpty()
        && password.isEmpty()
        && auth.isEmpty()
        && identityToken.isEmpty()
        && registryToken.isEmpty();
  }

  /** A user name and password: {@code username}/{@code password}, else decoded from {@code auth}. */
  public Optional<UserPass> userPass() throws LaminaException {
    if (!username.isEmpty()) {
      return Optional.of(new UserPass(username, password));
    }
    if (auth.isEmpty()) {
      return Optional.empty();
    }
    String decoded;
    try {
      decoded = new String(Base64.getDecoder().decode(auth.trim()), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      // Never echo the value: it is a secret.
      throw LaminaException.invalidArgument("invalid auth in credentials: not base64");
    }
    int colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw LaminaException.invalidArgument("invalid auth in credentials: want base64 of user:password");
    }
    return Optional.of(new UserPass(decoded.substring(0, colon), decoded.substring(colon + 1)));
  }

  /**
   * Whether these credentials may be sent to {@code host} (a registry authority such as {@code
   * registry-1.docker.io} or {@code 127.0.0.1:5000}) for images of {@code domain}: always when no
   * server address is set (containerd's CRI sends them to mirrors too), else only when the server
   * address names that host or domain. Docker Hub's names are one registry.
   */
  public boolean appliesTo(String host, String domain) {
    if (serverAddress.isEmpty()) {
      return true;
    }
    String s = serverAddress.trim();
    String h;
    try {
      URI u = URI.create(s.contains("://") ? s : "https://" + s);
      h = u.getRawAuthority();
    } catch (IllegalArgumentException e) {
      return false;
    }
    if (h == null) {
      return false;
    }
    h = h.toLowerCase(Locale.ROOT);
    String host1 = host.toLowerCase(Locale.ROOT);
    String domain1 = domain.toLowerCase(Locale.ROOT);
    if (h.equals(host1) || h.equals(domain1)) {
      return true;
    }
    return DOCKER_HUB.contains(h) && (DOCKER_HUB.contains(host1) || DOCKER_HUB.contains(domain1));
  }

  /**
   * A stable, non-secret identity for cache keys: tokens fetched with one user's credentials are
   * never handed to a pull with other (or no) credentials.
   */
  public String fingerprint() {
    if (isAnonymous()) {
      return "anonymous";
    }
    String all =
        String.join(
            "\u0000", username, password, auth, serverAddress, identityToken, registryToken);
    return Digest.sha256Of(all.getBytes(StandardCharsets.UTF_8)).hex().substring(0, 32);
  }

  @Override
  public String toString() {
    return "Credentials[username=" + username
        + ", password=" + redact(password)
        + ", auth=" + redact(auth)
        + ", serverAddress=" + serverAddress
        + ", identityToken=" + redact(identityToken)
        + ", registryToken=" + redact(registryToken) + "]";
  }

  static String redact(String secret) {
    return secret.isEmpty() ? "" : "<redacted>";
  }

  /** A user name and password; {@link #toString()} redacts the password. */
  public record UserPass(String username, String password) {
    /** The value of an {@code Authorization: Basic} header. */
    public String basicAuthorization() {
      return "Basic "
          + Base64.getEncoder()
              .encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public String toString() {
      return "UserPass[username=" + username + ", password=" + redact(password) + "]";
    }
  }
}
