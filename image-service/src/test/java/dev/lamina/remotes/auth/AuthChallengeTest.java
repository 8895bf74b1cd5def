package dev.lamina.remotes.auth;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class AuthChallengeTest {
  @Test
  void parsesDockerHubsBearerChallenge() {
    List<AuthChallenge> cs = AuthChallenge.parse(
        "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
            + "scope=\"repository:library/busybox:pull\"");
    assertThat(cs).hasSize(1);
    AuthChallenge c = cs.get(0);
    assertThat(c.isBearer()).isTrue();
    assertThat(c.realm()).isEqualTo("https://auth.docker.io/token");
    assertThat(c.service()).isEqualTo("registry.docker.io");
    assertThat(c.scope()).isEqualTo("repository:library/busybox:pull");
  }

  @Test
  void quotedStringsMayHoldCommasSpacesAndEscapes() {
    AuthChallenge c = AuthChallenge.parse(
        "Bearer realm=\"https://a.example/token?x=1,2\", service = \"my \\\"svc\\\", eu\" ,"
            + "scope=\"repository:a/b:pull repository:c/d:pull,push\",error=\"insufficient_scope\"").get(0);
    assertThat(c.realm()).isEqualTo("https://a.example/token?x=1,2");
    assertThat(c.service()).isEqualTo("my \"svc\", eu");
    assertThat(c.scope()).isEqualTo("repository:a/b:pull repository:c/d:pull,push");
    assertThat(c.error()).isEqualTo("insufficient_scope");
  }

  @Test
  void severalChallengesInOneHeaderAndAcrossHeaders() {
    List<AuthChallenge> cs = AuthChallenge.parse(List.of(
        "Basic realm=\"Registry Realm, EU\", Bearer realm=\"https://t.example/token\",service=svc",
        "Negotiate", "Digest realm=\"x\", nonce=\"abc\""));
    assertThat(cs).extracting(AuthChallenge::scheme).containsExactly("basic", "bearer", "negotiate", "digest");
    assertThat(cs.get(0).realm()).isEqualTo("Registry Realm, EU");
    assertThat(cs.get(1).realm()).isEqualTo("https://t.example/token");
    assertThat(cs.get(1).service()).isEqualTo("svc");
    assertThat(cs.get(3).param("nonce")).isEqualTo("abc");
  }

  @Test
  void schemeAndParameterNamesAreCaseInsensitive() {
    AuthChallenge c = AuthChallenge.parse("BEARER Realm=\"r\",SERVICE=\"s\"").get(0);
    assertThat(c.isBearer()).isTrue();
    assertThat(c.realm()).isEqualTo("r");
    assertThat(c.service()).isEqualTo("s");
  }

  @Test
  void toleratesJunk() {
    assertThat(AuthChallenge.parse("")).isEmpty();
    assertThat(AuthChallenge.parse(",, ,")).isEmpty();
    assertThat(AuthChallenge.parse("Bearer realm=\"unterminated").get(0).realm()).isEqualTo("unterminated");
    assertThat(AuthChallenge.parse("Basic dXNlcjpwYXNz==").get(0).isBasic()).isTrue();
  }
}
