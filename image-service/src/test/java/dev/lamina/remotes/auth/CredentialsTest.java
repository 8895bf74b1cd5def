package dev.lamina.remotes.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.lamina.errdefs.LaminaException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;

class CredentialsTest {
  @Test
  void toStringRedactsEverySecret() {
    Credentials c = new Credentials("alice", "pw-secret", "YXV0aC1zZWNyZXQ=", "docker.io",
        "identity-secret", "registry-secret");
    String s = c.toString();
    assertThat(s).contains("alice").contains("docker.io")
        .doesNotContain("pw-secret").doesNotContain("YXV0aC1zZWNyZXQ=")
        .doesNotContain("identity-secret").doesNotContain("registry-secret");
    assertThat(new Credentials.UserPass("a", "pw-secret").toString()).doesNotContain("pw-secret");
  }

  @Test
  void decodesAuth() throws Exception {
    String auth = Base64.getEncoder().encodeToString("bob:pa:ss".getBytes(StandardCharsets.UTF_8));
    Credentials.UserPass up = new Credentials("", "", auth, "", "", "").userPass().orElseThrow();
    assertThat(up.username()).isEqualTo("bob");
    assertThat(up.password()).isEqualTo("pa:ss");
    // username and password win over auth, as in containerd's ParseAuth
    assertThat(new Credentials("carol", "x", auth, "", "", "").userPass().orElseThrow().username()).isEqualTo("carol");
    assertThat(Credentials.anonymous().userPass()).isEmpty();
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> new Credentials("", "", "!!not-base64-secret", "", "", "").userPass());
    assertThat(e.getMessage()).doesNotContain("not-base64-secret");
  }

  @Test
  void serverAddressLimitsWhereCredentialsGo() {
    Credentials hub = Credentials.basic("u", "p").withServerAddress("https://index.docker.io/v1/");
    assertThat(hub.appliesTo("registry-1.docker.io", "docker.io")).isTrue();
    assertThat(hub.appliesTo("quay.io", "quay.io")).isFalse();
    Credentials local = Credentials.basic("u", "p").withServerAddress("127.0.0.1:5000");
    assertThat(local.appliesTo("127.0.0.1:5000", "127.0.0.1:5000")).isTrue();
    assertThat(local.appliesTo("127.0.0.1:5001", "127.0.0.1:5001")).isFalse();
    assertThat(Credentials.basic("u", "p").appliesTo("anything", "x")).isTrue();
  }

  @Test
  void fingerprintsDifferAndHideTheSecret() {
    assertThat(Credentials.basic("u", "p1").fingerprint()).isNotEqualTo(Credentials.basic("u", "p2").fingerprint());
    assertThat(Credentials.anonymous().fingerprint()).isEqualTo("anonymous");
    assertThat(Credentials.basic("u", "p1").fingerprint()).doesNotContain("p1");
  }
}
