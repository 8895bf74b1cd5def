package dev.lamina.oci;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PlatformTest {
  @ParameterizedTest(name = "{0}/{1}/{2} -> {3}")
  @CsvSource(nullValues = "-", value = {
      "linux, amd64, -, linux/amd64",
      "linux, x86_64, -, linux/amd64",
      "Linux, X86-64, -, linux/amd64",
      "linux, amd64, v1, linux/amd64",
      "linux, aarch64, -, linux/arm64/v8",
      "linux, arm64, -, linux/arm64/v8",
      "linux, arm64, 8, linux/arm64/v8",
      "linux, arm64, v8.0, linux/arm64/v8",
      "linux, arm64, 9, linux/arm64/v9",
      "linux, arm, -, linux/arm/v7",
      "linux, arm, 7, linux/arm/v7",
      "linux, arm, 6, linux/arm/v6",
      "linux, armhf, -, linux/arm/v7",
      "linux, armel, -, linux/arm/v6",
      "linux, i386, -, linux/386",
      "macos, arm64, -, darwin/arm64/v8",
      "linux, s390x, -, linux/s390x",
  })
  void normalizes(String os, String arch, String variant, String want) {
    assertThat(new Platform(os, arch, variant, null).normalize().toString()).isEqualTo(want);
  }

  @Test
  void matcherRanksExactFirstThenCompatible() throws Exception {
    Platform.Matcher arm64 = Platform.parse("linux/arm64").matcher();
    assertThat(arm64.rank(Platform.of("linux", "arm64", "v8"))).isZero();
    assertThat(arm64.rank(Platform.of("linux", "arm64"))).isZero();
    assertThat(arm64.rank(Platform.of("linux", "aarch64"))).isZero();
    assertThat(arm64.rank(Platform.of("linux", "arm", "v7"))).isPositive();
    assertThat(arm64.rank(Platform.of("linux", "arm", "v7")))
        .isLessThan(arm64.rank(Platform.of("linux", "arm", "v6")));
    assertThat(arm64.matches(Platform.of("linux", "amd64"))).isFalse();
    assertThat(arm64.matches(Platform.of("windows", "arm64"))).isFalse();

    Platform.Matcher amd64 = Platform.of("linux", "x86_64").matcher();
    assertThat(amd64.matches(Platform.of("linux", "amd64"))).isTrue();
    assertThat(amd64.matches(Platform.of("linux", "amd64", "v2"))).isFalse();
    assertThat(amd64.matches(Platform.of("linux", "386"))).isFalse();
    assertThat(amd64.matches(Platform.of("unknown", "unknown"))).isFalse();

    Platform.Matcher v3 = Platform.of("linux", "amd64", "v3").matcher();
    assertThat(v3.rank(Platform.of("linux", "amd64", "v2"))).isEqualTo(1);
    assertThat(v3.rank(Platform.of("linux", "amd64"))).isEqualTo(2);

    Platform.Matcher armv6 = Platform.parse("linux/arm/v6").matcher();
    assertThat(armv6.matches(Platform.of("linux", "arm", "v7"))).isFalse();
    assertThat(armv6.matches(Platform.of("linux", "arm", "v5"))).isTrue();
  }

  @Test
  void currentIsNormalizedLinux() {
    Platform p = Platform.current();
    assertThat(p).isEqualTo(p.normalize());
    assertThat(p.os()).isEqualTo("linux");
    assertThat(p.architecture()).isIn("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64");
  }
}
