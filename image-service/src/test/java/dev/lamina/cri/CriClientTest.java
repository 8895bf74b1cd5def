package dev.lamina.cri;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The CLI's helpers (package-private in dev.lamina.cli, reached by reflection). */
class CriClientTest {
  static Object call(String method, Class<?>[] types, Object... args) {
    try {
      Class<?> c = Class.forName("dev.lamina.cli.CriClient");
      java.lang.reflect.Method m = method.equals("resolve")
          ? Class.forName("dev.lamina.cli.CriClient$SocketOption").getDeclaredMethod(method, types)
          : c.getDeclaredMethod(method, types);
      m.setAccessible(true);
      return m.invoke(null, args);
    } catch (ReflectiveOperationException e) {
      throw new AssertionError(e);
    }
  }

  static String humanSize(long bytes) {
    return (String) call("humanSize", new Class<?>[] {long.class}, bytes);
  }

  static String truncatedId(String id) {
    return (String) call("truncatedId", new Class<?>[] {String.class}, id);
  }

  static java.nio.file.Path socket(String option, String env) {
    return (java.nio.file.Path) call("resolve", new Class<?>[] {String.class, String.class}, option, env);
  }

  @ParameterizedTest
  @CsvSource({
    "0, 0B",
    "999, 999B",
    "1000, 1kB",
    "1234, 1.23kB",
    "4266000, 4.27MB",
    "999999, 1MB",
    "70123456, 70.1MB",
    "1500000000, 1.5GB",
  })
  void sizesAsCrictlPrintsThem(long bytes, String human) {
    assertThat(humanSize(bytes)).isEqualTo(human);
  }

  @Test
  void truncatedIdsHave13Digits() {
    assertThat(truncatedId("sha256:0123456789abcdef0123")).isEqualTo("0123456789abc");
    assertThat(truncatedId("abc")).isEqualTo("abc");
  }

  @Test
  void socketComesFromTheOptionThenTheEnvironmentThenTheDefault() {
    assertThat(socket("unix:///a/b.sock", "/env.sock")).hasToString("/a/b.sock");
    assertThat(socket(null, "/env.sock")).hasToString("/env.sock");
    assertThat(socket(null, "unix:///env.sock")).hasToString("/env.sock");
    assertThat(socket(null, null)).hasToString("/run/lamina/lamina.sock");
    assertThat(socket("", "")).hasToString("/run/lamina/lamina.sock");
  }

  @Test
  void theCommandsAreRegistered() {
    for (String command : new String[] {"pull", "images", "inspecti", "rmi", "imagefsinfo"}) {
      assertThat(Main.run(command, "--help")).as(command).isZero();
    }
  }
}
