package dev.lamina.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ImageRefTest {
  private static final String D = "sha256:abababababababababababababababababababababababababababababababab";

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      // input | normalized | familiar | domain | path | registry host
      "busybox | docker.io/library/busybox:latest | busybox:latest | docker.io | library/busybox | registry-1.docker.io",
      "busybox:1.36 | docker.io/library/busybox:1.36 | busybox:1.36 | docker.io | library/busybox | registry-1.docker.io",
      "user/app | docker.io/user/app:latest | user/app:latest | docker.io | user/app | registry-1.docker.io",
      "docker.io/library/busybox | docker.io/library/busybox:latest | busybox:latest | docker.io | library/busybox | registry-1.docker.io",
      "index.docker.io/user/app:v1 | docker.io/user/app:v1 | user/app:v1 | docker.io | user/app | registry-1.docker.io",
      "docker.io/library/a/b | docker.io/library/a/b:latest | library/a/b:latest | docker.io | library/a/b | registry-1.docker.io",
      "localhost/app | localhost/app:latest | localhost/app:latest | localhost | app | localhost",
      "localhost:5000/a/b:t | localhost:5000/a/b:t | localhost:5000/a/b:t | localhost:5000 | a/b | localhost:5000",
      "127.0.0.1:5000/x@" + D + " | 127.0.0.1:5000/x@" + D + " | 127.0.0.1:5000/x@" + D + " | 127.0.0.1:5000 | x | 127.0.0.1:5000",
      "[::1]:5000/x:y | [::1]:5000/x:y | [::1]:5000/x:y | [::1]:5000 | x | [::1]:5000",
      "quay.io/coreos/etcd:v3.5 | quay.io/coreos/etcd:v3.5 | quay.io/coreos/etcd:v3.5 | quay.io | coreos/etcd | quay.io",
      "registry.k8s.io/pause:3.9 | registry.k8s.io/pause:3.9 | registry.k8s.io/pause:3.9 | registry.k8s.io | pause | registry.k8s.io",
      "Example.COM/app | Example.COM/app:latest | Example.COM/app:latest | Example.COM | app | Example.COM",
      "a-b_c__e---f/g:T_a.g-1 | docker.io/a-b_c__e---f/g:T_a.g-1 | a-b_c__e---f/g:T_a.g-1 | docker.io | a-b_c__e---f/g | registry-1.docker.io",
      "UPPER/case | UPPER/case:latest | UPPER/case:latest | UPPER | case | UPPER",
  })
  void parsesAndNormalizes(String in, String normalized, String familiar, String domain, String path, String host)
      throws Exception {
    ImageRef r = ImageRef.parse(in);
    assertThat(r.toString()).isEqualTo(normalized);
    assertThat(r.familiar()).isEqualTo(familiar);
    assertThat(r.domain()).isEqualTo(domain);
    assertThat(r.path()).isEqualTo(path);
    assertThat(r.registryHost()).isEqualTo(host);
    assertThat(ImageRef.parse(r.toString())).isEqualTo(r);
  }

  @Test
  void tagAndDigestKeepsBothButPrintsTheDigest() throws Exception {
    ImageRef r = ImageRef.parse("busybox:1.36@" + D);
    assertThat(r.tag()).isEqualTo("1.36");
    assertThat(r.digest().toString()).isEqualTo(D);
    assertThat(r.reference()).isEqualTo(D);
    assertThat(r.toString()).isEqualTo("docker.io/library/busybox@" + D);
    assertThat(r.familiar()).isEqualTo("busybox:1.36@" + D);
    assertThat(r.pullScope()).isEqualTo("repository:library/busybox:pull");
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "", "BUSYBOX", "busybox:", "busy box", "a/b!c", "localhost:5000/A", ":tag", "@" + D,
      "busybox@sha256:abc", "busybox@md5:" + "00112233445566778899aabbccddeeff", "-leading/dash", "a//b",
      "a/b/", "busybox:-tag", "abababababababababababababababababababababababababababababababab", "host:port/x", "x:ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"})
  void rejectsInvalidReferences(String in) {
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> ImageRef.parse(in));
    assertThat(e).as(in).isNotNull();
    assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
    assertThat(e.getMessage()).contains("invalid reference \"" + in + "\"");
  }

  @ParameterizedTest
  @ValueSource(strings = {"Foo//Bar::x", "Foo/Bar::x", "UPPER//", "a//b", "busybox:", "Host:port/x y"})
  void malformedReferencesGetOneMessage(String in) {
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> ImageRef.parse(in));
    assertThat(e.getMessage()).isEqualTo("invalid reference \"" + in + "\": invalid reference format");
  }

  @Test
  void uppercaseRepositoryIsNamed() {
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> ImageRef.parse("docker.io/Library/Busybox"));
    assertThat(e.getMessage()).isEqualTo("invalid reference \"docker.io/Library/Busybox\": "
        + "invalid reference format: repository name \"Library/Busybox\" must be lowercase");
  }

  @Test
  void tooLongNameIsRejected() {
    String name = "a/" + "b".repeat(260);
    assertThat(catchThrowableOfType(LaminaException.class, () -> ImageRef.parse(name)).getMessage())
        .contains("255");
  }
}
