package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.oci.MediaTypes;
import dev.lamina.remotes.auth.Credentials;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The token dance and basic auth against a canned registry and token server. */
class RegistryAuthTest extends CannedRegistryTestBase {
  private final AtomicInteger issued = new AtomicInteger();
  /** The token the registry accepts now. */
  private final AtomicReference<String> accepted = new AtomicReference<>("");

  private String challenge() {
    return "Bearer realm=\"" + server.url() + "/token\",service=\"canned registry\","
        + "scope=\"repository:test/img:pull\"";
  }

  /** Registry wants a bearer token; the token server hands out tok-1, tok-2, ... each accepted. */
  private void bearerGate(int expiresIn) {
    server.on("/token", (ex, r) -> {
      String t = "tok-" + issued.incrementAndGet();
      accepted.set(t);
      CannedServer.send(ex, 200, Map.of("Content-Type", "application/json"),
          "{\"token\":\"" + t + "\",\"expires_in\":" + expiresIn + ",\"issued_at\":\"2025-01-01T00:00:00Z\"}");
    });
    registry.gate = (ex, r) -> {
      if (("Bearer " + accepted.get()).equals(r.header("Authorization"))) {
        return true;
      }
      ex.getResponseHeaders().add("WWW-Authenticate", challenge());
      FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
      return false;
    };
  }

  @Test
  void anonymousTokenDance() throws Exception {
    bearerGate(300);
    RegistryClient client = client();

    Resolved r = client.resolve(ref("test/img:v1"));

    assertThat(r.descriptor().digest()).isEqualTo(manifest.digest());
    var tokenRequests = server.requests("/token");
    assertThat(tokenRequests).hasSize(1);
    assertThat(tokenRequests.get(0).method()).isEqualTo("GET");
    assertThat(tokenRequests.get(0).query())
        .contains("service=canned%20registry")
        .contains("scope=repository%3Atest%2Fimg%3Apull");
    assertThat(tokenRequests.get(0).header("Authorization")).isNull();
    var manifestRequests = server.requests("/v2/test/img/manifests/v1");
    assertThat(manifestRequests).hasSize(2);
    assertThat(manifestRequests.get(0).header("Authorization")).isNull();
    assertThat(manifestRequests.get(1).header("Authorization")).isEqualTo("Bearer tok-1");

    // The token is cached: the next calls send it at once, no 401, no token request.
    byte[] m = client.fetchManifest(ref("test/img"), r.descriptor());
    assertThat(m).isEqualTo(manifestBytes);
    byte[] blob = client.readBlob(ref("test/img"), layer);
    assertThat(blob).isEqualTo(layerBytes);
    assertThat(server.requests("/token")).hasSize(1);
    assertThat(server.requests("/v2/test/img/.*")).hasSize(4);
  }

  @Test
  void expiredTokenIsFetchedAgainBeforeUse() throws Exception {
    bearerGate(60);
    RegistryClient client = client();
    client.resolve(ref("test/img:v1"));
    assertThat(issued).hasValue(1);

    clock.advance(Duration.ofSeconds(30));
    client.resolve(ref("test/img:v1"));
    assertThat(issued).as("still valid after 30 s of 60").hasValue(1);

    clock.advance(Duration.ofSeconds(31));
    client.resolve(ref("test/img:v1"));
    assertThat(issued).as("expired after 61 s").hasValue(2);
    var last = server.requests("/v2/test/img/manifests/v1");
    assertThat(last.get(last.size() - 1).header("Authorization")).isEqualTo("Bearer tok-2");
    // No 401 was needed for the refresh: 2 (dance) + 1 + 1.
    assertThat(last).hasSize(4);
  }

  @Test
  void tokenRevokedByTheRegistryIsRefreshedInvisibly() throws Exception {
    bearerGate(300);
    RegistryClient client = client();
    client.resolve(ref("test/img:v1"));
    accepted.set("revoked"); // the registry no longer takes tok-1

    Resolved r = client.resolve(ref("test/img:v1"));

    assertThat(r.descriptor()).isEqualTo(manifest);
    assertThat(issued).hasValue(2);
  }

  @Test
  void refreshesAreBounded() throws Exception {
    server.on("/token", (ex, r) -> {
      issued.incrementAndGet();
      CannedServer.send(ex, 200, Map.of(), "{\"access_token\":\"never-good\"}");
    });
    registry.gate = (ex, r) -> {
      ex.getResponseHeaders().add("WWW-Authenticate", challenge() + ",error=\"invalid_token\"");
      FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
      return false;
    };
    RegistryClient client = new RegistryClient(options().withMaxAuthRefreshes(2));

    var e = failure(() -> client.resolve(ref("test/img:v1")));

    assertKind(e, ErrorKind.UNAUTHENTICATED);
    assertThat(e.getMessage()).contains("invalid_token").contains("answered 401")
        .contains("refused the token 3 times");
    assertThat(issued).as("one token, then two refreshes").hasValue(3);
  }

  @Test
  void identityTokenUsesTheOauthRefreshGrant() throws Exception {
    server.on("/token", (ex, r) -> {
      if (r.method().equals("POST")
          && r.bodyText().contains("grant_type=refresh_token")
          && r.bodyText().contains("refresh_token=identity-123")) {
        CannedServer.send(ex, 200, Map.of("Content-Type", "application/json"),
            "{\"access_token\":\"oauth-tok\",\"expires_in\":300,\"refresh_token\":\"identity-124\"}");
      } else {
        CannedServer.send(ex, 401, Map.of(), "{\"error\":\"invalid_grant\"}");
      }
    });
    registry.gate = (ex, r) -> {
      if ("Bearer oauth-tok".equals(r.header("Authorization"))) {
        return true;
      }
      ex.getResponseHeaders().add("WWW-Authenticate", challenge());
      FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
      return false;
    };
    RegistryClient client = client().withCredentials(Credentials.identityToken("identity-123"));

    client.resolve(ref("test/img:v1"));

    var post = server.requests("/token").get(0);
    assertThat(post.method()).isEqualTo("POST");
    assertThat(post.header("Content-Type")).isEqualTo("application/x-www-form-urlencoded");
    assertThat(post.bodyText())
        .contains("grant_type=refresh_token")
        .contains("refresh_token=identity-123")
        .contains("service=canned%20registry")
        .contains("scope=repository%3Atest%2Fimg%3Apull")
        .contains("client_id=lamina");
  }

  @Test
  void registryTokenIsSentAsBearerWithoutTheTokenServer() throws Exception {
    server.on("/token", (ex, r) -> CannedServer.send(ex, 500, Map.of(), "must not be called"));
    registry.gate = (ex, r) -> {
      if ("Bearer registry-tok".equals(r.header("Authorization"))) {
        return true;
      }
      ex.getResponseHeaders().add("WWW-Authenticate", challenge());
      FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
      return false;
    };
    RegistryClient client = client().withCredentials(Credentials.registryToken("registry-tok"));

    client.resolve(ref("test/img:v1"));
    client.readBlob(ref("test/img"), config);

    assertThat(server.requests("/token")).isEmpty();
    assertThat(server.requests("/v2/.*")).allSatisfy(
        r -> assertThat(r.header("Authorization")).isEqualTo("Bearer registry-tok"));
  }

  @Test
  void credentialsGoToTheTokenServerWithBasicAuth() throws Exception {
    String basic = "Basic " + Base64.getEncoder().encodeToString("alice:s3cret".getBytes(StandardCharsets.UTF_8));
    server.on("/token", (ex, r) -> {
      if (basic.equals(r.header("Authorization"))) {
        accepted.set("alice-tok");
        CannedServer.send(ex, 200, Map.of(), "{\"token\":\"alice-tok\"}");
      } else {
        CannedServer.send(ex, 401, Map.of("Content-Type", "application/json"),
            "{\"details\":\"incorrect username or password\"}");
      }
    });
    registry.gate = (ex, r) -> {
      if (("Bearer " + accepted.get()).equals(r.header("Authorization"))) {
        return true;
      }
      ex.getResponseHeaders().add("WWW-Authenticate", challenge());
      FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
      return false;
    };

    client().withCredentials(Credentials.basic("alice", "s3cret")).resolve(ref("test/img:v1"));
    assertThat(server.requests("/token").get(0).query()).contains("account=alice");

    var e = failure(() -> client().withCredentials(Credentials.basic("alice", "wrong")).resolve(ref("test/img:v1")));
    assertKind(e, ErrorKind.UNAUTHENTICATED);
    assertThat(e.getMessage()).contains("incorrect username or password").doesNotContain("wrong");
  }

  @Test
  void basicAuth() throws Exception {
    String auth = Base64.getEncoder().encodeToString("bob:pw".getBytes(StandardCharsets.UTF_8));
    registry.gate = (ex, r) -> {
      if (("Basic " + auth).equals(r.header("Authorization"))) {
        return true;
      }
      ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"canned, with a comma\"");
      FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
      return false;
    };
    RegistryClient anonymous = client();
    RegistryClient bob = anonymous.withCredentials(new Credentials("", "", auth, "", "", ""));

    assertThat(bob.resolve(ref("test/img:v1")).descriptor()).isEqualTo(manifest);
    assertThat(bob.readBlob(ref("test/img"), layer)).isEqualTo(layerBytes);

    var e = failure(() -> anonymous.resolve(ref("test/img:v1")));
    assertKind(e, ErrorKind.UNAUTHENTICATED);
    assertThat(e.getMessage()).contains("no credentials were given");

    int before = server.requests("/v2/.*").size();
    var wrong = failure(() -> anonymous.withCredentials(Credentials.basic("bob", "nope")).resolve(ref("test/img:v1")));
    assertKind(wrong, ErrorKind.UNAUTHENTICATED);
    // The learned Basic challenge is answered up front; refused once, it is not sent again.
    assertThat(server.requests("/v2/.*").size() - before).isEqualTo(1);
  }

  @Test
  void credentialsForAnotherServerAreNotSent() throws Exception {
    registry.gate = (ex, r) -> {
      if (r.header("Authorization") == null) {
        ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"x\"");
        FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
        return false;
      }
      return true;
    };
    RegistryClient client = client().withCredentials(
        Credentials.basic("carol", "pw").withServerAddress("https://other.example.com/v1/"));

    var e = failure(() -> client.resolve(ref("test/img:v1")));

    assertKind(e, ErrorKind.UNAUTHENTICATED);
    assertThat(server.requests("/v2/.*")).allSatisfy(r -> assertThat(r.header("Authorization")).isNull());
  }

  @Test
  void authenticateChecksAccess() throws Exception {
    bearerGate(300);
    client().authenticate(ref("test/img"));
    assertThat(server.requests("/token")).hasSize(1);
    assertThat(server.requests("/v2/?")).hasSize(2);
  }

  @Test
  void tokensAreNotSharedAcrossCredentials() throws Exception {
    bearerGate(300);
    RegistryClient shared = client();
    shared.withCredentials(Credentials.basic("u1", "p1")).resolve(ref("test/img:v1"));
    shared.withCredentials(Credentials.basic("u2", "p2")).resolve(ref("test/img:v1"));
    assertThat(issued).hasValue(2);
  }

  /**
   * The challenge a host sent last names the scope of the request that met it, which may be of
   * another repository (another pull, other credentials): a token for this repository asks for
   * this repository's scope alone. The gate here is distribution's: the challenge names the
   * requested repository, and a token is good for the scopes it was issued for.
   */
  @Test
  void aTokenIsAskedForTheCallsRepositoryOnlyNotForOneAnEarlierChallengeNamed() throws Exception {
    registry.putManifest("other/img", "v1", MediaTypes.OCI_MANIFEST, manifestBytes);
    Map<String, String> scopesOfToken = new java.util.concurrent.ConcurrentHashMap<>();
    server.on("/token", (ex, r) -> {
      String t = "tok-" + issued.incrementAndGet();
      scopesOfToken.put(t, java.net.URLDecoder.decode(r.query(), StandardCharsets.UTF_8));
      CannedServer.send(ex, 200, Map.of("Content-Type", "application/json"), "{\"token\":\"" + t + "\"}");
    });
    registry.gate = (ex, r) -> {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("/v2/(.+)/(manifests|blobs)/.*").matcher(r.path());
      String scope = m.matches() ? "repository:" + m.group(1) + ":pull" : "";
      String auth = r.header("Authorization");
      if (auth != null && auth.startsWith("Bearer ")
          && scopesOfToken.getOrDefault(auth.substring(7), "").contains("scope=" + scope)) {
        return true;
      }
      ex.getResponseHeaders().add("WWW-Authenticate", "Bearer realm=\"" + server.url() + "/token\","
          + "service=\"canned registry\"" + (scope.isEmpty() ? "" : ",scope=\"" + scope + "\""));
      FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
      return false;
    };
    RegistryClient client = client();

    client.resolve(ref("test/img:v1"));
    client.withCredentials(Credentials.basic("u2", "p2")).resolve(ref("other/img:v1"));
    client.resolve(ref("other/img:v1"));

    var tokenRequests = server.requests("/token");
    assertThat(tokenRequests).hasSize(3);
    assertThat(tokenRequests.get(0).query()).contains("scope=repository%3Atest%2Fimg%3Apull");
    for (var r : tokenRequests.subList(1, 3)) {
      assertThat(r.query()).contains("scope=repository%3Aother%2Fimg%3Apull").doesNotContain("test%2Fimg");
    }
    // the token asked for up front was the one the registry wanted: no 401 for other/img
    assertThat(server.requests("/v2/other/img/manifests/v1")).hasSize(2);
  }
}
