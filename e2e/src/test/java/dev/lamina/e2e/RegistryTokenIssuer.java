package dev.lamina.e2e;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A token server of docker's token authentication spec for {@link DockerRegistry.Auth#token}, on
 * {@code 127.0.0.1}: {@code GET /token?service=...&scope=...} with basic credentials answers {@code
 * {"token": JWT, "access_token": JWT, "expires_in": ...}}.
 *
 * <p>The JWT is what distribution 2.8's {@code token.Verify} checks: {@code iss} the configured
 * issuer, {@code aud} the requested service (a string, as 2.8 reads it), {@code exp}/{@code nbf}
 * around now (the registry allows 60 s of skew), signed RS256 by a key whose self-signed
 * certificate is the header's {@code x5c} chain and the registry's {@code rootcertbundle}. The
 * {@code access} claim grants the actions each requested {@code repository:NAME:ACTIONS} scope asks
 * for, to every user but those made with {@link #addUserWithoutAccess}, who get an empty grant.
 * Anonymous requests (no {@code Authorization}) and wrong passwords get 401.
 *
 * <p>The key and certificate come from the JDK's {@code keytool}. Every request is recorded.
 */
final class RegistryTokenIssuer implements AutoCloseable {
  static final Duration TOKEN_LIFETIME = Duration.ofMinutes(5);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Base64.Encoder B64URL = Base64.getUrlEncoder().withoutPadding();

  /**
   * One request the issuer answered.
   *
   * @param user the basic-auth user, or null for an anonymous request
   * @param status the HTTP status of the answer
   * @param granted the {@code access} claim's entries as {@code type:name:actions}
   */
  record Request(String method, String service, List<String> scopes, String account, String user, int status,
      List<String> granted) {}

  private final String issuer;
  private final PrivateKey key;
  private final X509Certificate certificate;
  private final Path certificatePem;
  private final Map<String, String> passwords = new ConcurrentHashMap<>();
  private final Set<String> withoutAccess = ConcurrentHashMap.newKeySet();
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private final List<String> tokens = new CopyOnWriteArrayList<>();
  private final HttpServer server;
  private final ExecutorService executor;

  private RegistryTokenIssuer(String issuer, PrivateKey key, X509Certificate certificate, Path certificatePem)
      throws IOException {
    this.issuer = issuer;
    this.key = key;
    this.certificate = certificate;
    this.certificatePem = certificatePem;
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
    executor = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "token-issuer");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/token", this::handle);
    server.start();
  }

  /**
   * Makes an RSA key and a self-signed certificate for it under {@code dir} (keytool), writes the
   * certificate as PEM (the registry's {@code rootcertbundle}) and starts serving.
   */
  static RegistryTokenIssuer start(Path dir, String issuer) throws IOException {
    Files.createDirectories(dir);
    Path store = dir.resolve("issuer.p12");
    String password = "lamina-e2e-" + UUID.randomUUID();
    Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
    Commands.run(keytool.toString(), "-genkeypair", "-keyalg", "RSA", "-keysize", "2048", "-sigalg", "SHA256withRSA",
        "-alias", "issuer", "-dname", "CN=" + issuer, "-validity", "2", "-storetype", "PKCS12",
        "-keystore", store.toString(), "-storepass", password, "-keypass", password).check();
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      try (InputStream in = Files.newInputStream(store)) {
        ks.load(in, password.toCharArray());
      }
      PrivateKey key = (PrivateKey) ks.getKey("issuer", password.toCharArray());
      X509Certificate cert = (X509Certificate) ks.getCertificate("issuer");
      Path pem = dir.resolve("issuer.pem");
      Files.writeString(pem, "-----BEGIN CERTIFICATE-----\n"
          + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(cert.getEncoded())
          + "\n-----END CERTIFICATE-----\n", StandardCharsets.US_ASCII);
      return new RegistryTokenIssuer(issuer, key, cert, pem);
    } catch (GeneralSecurityException e) {
      throw new IOException("reading the key keytool made in " + store, e);
    }
  }

  /** Whether the JDK's keytool is there (a JRE without it cannot make the key). */
  static boolean keytoolInstalled() {
    return Files.isExecutable(Path.of(System.getProperty("java.home"), "bin", "keytool"));
  }

  void addUser(String user, String password) {
    passwords.put(user, password);
  }

  /** A user whose password is right but whose tokens grant nothing. */
  void addUserWithoutAccess(String user, String password) {
    passwords.put(user, password);
    withoutAccess.add(user);
  }

  /** The {@code realm} for the registry's configuration. */
  URI realm() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/token");
  }

  String issuer() {
    return issuer;
  }

  /** The certificate the registry trusts, as PEM. */
  Path rootCertBundle() {
    return certificatePem;
  }

  List<Request> requests() {
    return List.copyOf(requests);
  }

  void clearRequests() {
    requests.clear();
  }

  /** Every token handed out so far. */
  List<String> issuedTokens() {
    return List.copyOf(tokens);
  }

  private void handle(HttpExchange x) throws IOException {
    try (x) {
      x.getRequestBody().readAllBytes();
      if (!x.getRequestMethod().equals("GET")) {
        respond(x, 405, error("only GET is supported here"));
        return;
      }
      String service = "";
      String account = "";
      List<String> scopes = new ArrayList<>();
      String query = x.getRequestURI().getRawQuery();
      for (String pair : query == null ? new String[0] : query.split("&")) {
        int eq = pair.indexOf('=');
        String name = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
        String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
        switch (name) {
          case "service" -> service = value;
          case "account" -> account = value;
          case "scope" -> {
            for (String s : value.split(" ")) {
              if (!s.isBlank()) {
                scopes.add(s);
              }
            }
          }
          default -> { }
        }
      }
      String user = basicUser(x.getRequestHeaders().getFirst("Authorization"));
      if (user == null) {
        requests.add(new Request("GET", service, scopes, account, null, 401, List.of()));
        x.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"" + issuer + "\"");
        respond(x, 401, error("anonymous access is not allowed: log in"));
        return;
      }
      if (user.isEmpty()) {
        requests.add(new Request("GET", service, scopes, account, basicName(x), 401, List.of()));
        respond(x, 401, error("invalid username or password"));
        return;
      }
      List<String> granted = new ArrayList<>();
      ArrayNode access = JSON.createArrayNode();
      if (!withoutAccess.contains(user)) {
        for (String scope : scopes) {
          int first = scope.indexOf(':');
          int last = scope.lastIndexOf(':');
          if (first <= 0 || last <= first) {
            continue;
          }
          ObjectNode a = access.addObject();
          a.put("type", scope.substring(0, first));
          a.put("name", scope.substring(first + 1, last));
          ArrayNode actions = a.putArray("actions");
          for (String action : new LinkedHashSet<>(List.of(scope.substring(last + 1).split(",")))) {
            actions.add(action);
          }
          granted.add(scope);
        }
      }
      String token = jwt(user, service, access);
      tokens.add(token);
      requests.add(new Request("GET", service, scopes, account, user, 200, granted));
      ObjectNode body = JSON.createObjectNode();
      body.put("token", token);
      body.put("access_token", token);
      body.put("expires_in", TOKEN_LIFETIME.toSeconds());
      body.put("issued_at", Instant.now().toString());
      respond(x, 200, JSON.writeValueAsBytes(body));
    } catch (IOException | RuntimeException e) {
      e.printStackTrace(); // HttpServer drops a handler's exception without a word
      throw e;
    }
  }

  /**
   * The user an {@code Authorization: Basic} header proves: null when there is none, the empty
   * string when the user or password is wrong.
   */
  private String basicUser(String authorization) {
    if (authorization == null || !authorization.regionMatches(true, 0, "Basic ", 0, 6)) {
      return null;
    }
    String decoded;
    try {
      decoded = new String(Base64.getDecoder().decode(authorization.substring(6).trim()), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return "";
    }
    int colon = decoded.indexOf(':');
    if (colon <= 0) {
      return "";
    }
    String user = decoded.substring(0, colon);
    String want = passwords.get(user);
    return want != null && want.equals(decoded.substring(colon + 1)) ? user : "";
  }

  private static String basicName(HttpExchange x) {
    try {
      String decoded = new String(Base64.getDecoder().decode(
          x.getRequestHeaders().getFirst("Authorization").substring(6).trim()), StandardCharsets.UTF_8);
      int colon = decoded.indexOf(':');
      return colon < 0 ? decoded : decoded.substring(0, colon);
    } catch (RuntimeException e) {
      return "";
    }
  }

  private String jwt(String subject, String audience, ArrayNode access) throws IOException {
    try {
      ObjectNode header = JSON.createObjectNode();
      header.put("typ", "JWT");
      header.put("alg", "RS256");
      header.putArray("x5c").add(Base64.getEncoder().encodeToString(certificate.getEncoded()));
      long now = Instant.now().getEpochSecond();
      ObjectNode claims = JSON.createObjectNode();
      claims.put("iss", issuer);
      claims.put("sub", subject);
      claims.put("aud", audience);
      claims.put("exp", now + TOKEN_LIFETIME.toSeconds());
      claims.put("nbf", now - 1);
      claims.put("iat", now);
      claims.put("jti", UUID.randomUUID().toString());
      claims.set("access", access);
      String signingInput = B64URL.encodeToString(JSON.writeValueAsBytes(header)) + "."
          + B64URL.encodeToString(JSON.writeValueAsBytes(claims));
      Signature rs256 = Signature.getInstance("SHA256withRSA");
      rs256.initSign(key);
      rs256.update(signingInput.getBytes(StandardCharsets.US_ASCII));
      return signingInput + "." + B64URL.encodeToString(rs256.sign());
    } catch (GeneralSecurityException e) {
      throw new IOException("signing a token", e);
    }
  }

  private static byte[] error(String details) throws IOException {
    return JSON.writeValueAsBytes(JSON.createObjectNode().put("details", details));
  }

  private static void respond(HttpExchange x, int status, byte[] body) throws IOException {
    x.getResponseHeaders().set("Content-Type", "application/json");
    x.sendResponseHeaders(status, body.length);
    x.getResponseBody().write(body);
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
