package dev.lamina.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibraryTest {
  @TempDir Path tmp;

  /** Opens an SQLite connection (after {@link NativeLibrary#prepare} when asked), says so, waits to be killed. */
  public static void main(String[] args) throws Exception {
    if (args[0].equals("shared")) {
      NativeLibrary.prepare();
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite::memory:")) {
      System.out.println("open " + System.getProperty(NativeLibrary.NAME_PROPERTY));
      System.out.flush();
      Thread.sleep(60_000);
    }
  }

  @Test
  void killedProcessesShareOneCopyAndLeaveNothingElseInTheTemporaryDirectory() throws Exception {
    for (int i = 0; i < 3; i++) {
      assertThat(startAndKill("shared")).startsWith("open sqlite-");
    }
    assertThat(list(tmp)).singleElement().satisfies(d -> assertThat(d.getFileName().toString()).startsWith("lamina-"));
    Path dir = list(tmp).get(0);
    assertThat(list(dir)).singleElement().satisfies(f -> assertThat(f.getFileName().toString())
        .matches("sqlite-[0-9a-f]{24}-libsqlitejdbc\\.so"));
    assertThat(Files.getPosixFilePermissions(dir)).isEqualTo(PosixFilePermissions.fromString("rwx------"));
  }

  @Test
  void withoutItEveryKilledProcessLeavesItsOwnCopy() throws Exception {
    startAndKill("default");
    startAndKill("default");
    assertThat(list(tmp).stream().filter(p -> p.getFileName().toString().endsWith("libsqlitejdbc.so")))
        .as("sqlite-jdbc's own extraction, which the shared copy replaces").hasSize(2);
  }

  @Test
  void aSharedDirectoryOthersCanWriteIsRefused() throws Exception {
    Path dir = Files.createDirectory(tmp.resolve("lamina-" + new com.sun.security.auth.module.UnixSystem().getUid()));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    assertThatThrownBy(() -> NativeLibrary.privateDir(tmp)).isInstanceOf(IOException.class)
        .hasMessageContaining("is not a private directory");
  }

  private String startAndKill(String mode) throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Process p = new ProcessBuilder(java.toString(), "-Djava.io.tmpdir=" + tmp, "-cp",
        System.getProperty("java.class.path"), NativeLibraryTest.class.getName(), mode)
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      String line = out.readLine();
      p.destroyForcibly();
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      return line;
    }
  }

  private static List<Path> list(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(f -> !f.getFileName().toString().endsWith(".lck")).sorted().toList();
    }
  }
}
