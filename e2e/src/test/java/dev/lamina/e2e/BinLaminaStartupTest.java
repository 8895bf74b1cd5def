package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/lamina serve} as an operator starts it: which JDK it runs on, and the class cache its
 * first clean stop leaves for every later start (JDK 25's AOT cache, a class-data archive before).
 */
class BinLaminaStartupTest {
  private static final Path JDK17 = Path.of("/usr/lib/jvm/java-17-openjdk-amd64");
  private static final Path JDK25 = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");

  @TempDir Path tmp;

  @BeforeAll
  static void built() {
    ContainerdLaminaProcess.assumeBuilt();
  }

  /** A daemon started by bin/lamina, with its own cache directory. */
  private record Daemon(Process process, Path dir) {
    Path criSocket() {
      return dir.resolve("cri.sock");
    }

    /** The JVM binary the process runs. */
    Path javaBinary() throws IOException {
      return Files.readSymbolicLink(Path.of("/proc", Long.toString(process.pid()), "exe"));
    }

    /** Files of the cache directory the JVM has mapped. */
    List<String> mappedFrom(Path cache) throws IOException {
      try (Stream<String> maps = Files.lines(Path.of("/proc", Long.toString(process.pid()), "maps"))) {
        return maps.filter(l -> l.contains(cache.toString())).map(l -> l.substring(l.indexOf('/'))).distinct()
            .toList();
      }
    }

    /** SIGTERM, as kubelet or systemd stop it; returns the exit status. */
    int stop() throws InterruptedException {
      process.destroy();
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("lamina stops within 60 s of SIGTERM").isTrue();
      return process.exitValue();
    }

    String log() throws IOException {
      return Files.readString(dir.resolve("serve.log"));
    }
  }

  private Daemon start(String name, Map<String, String> env) throws Exception {
    Path dir = Files.createDirectories(tmp.resolve(name));
    ProcessBuilder pb = new ProcessBuilder(ContainerdHarness.projectRoot().resolve("bin/lamina").toString(),
        "serve", "--root", dir.resolve("root").toString(), "--socket", dir.resolve("cri.sock").toString(),
        "--snapshotter-socket", dir.resolve("snap.sock").toString(), "--snapshotter", "copying")
        .redirectErrorStream(true).redirectOutput(dir.resolve("serve.log").toFile());
    pb.environment().remove("JAVA_HOME");
    pb.environment().put("LAMINA_JAR", ContainerdLaminaProcess.jar().toString());
    pb.environment().putAll(env);
    Daemon d = new Daemon(pb.start(), dir);
    long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    while (!Files.exists(d.criSocket()) && d.process().isAlive() && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(d.criSocket()).as(d.log()).exists();
    return d;
  }

  private static List<Path> cacheFiles(Path cache) throws IOException {
    try (Stream<Path> s = Files.list(cache)) {
      return s.sorted().toList();
    }
  }

  @Test
  void javaHomeIsTakenFirst() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(JDK17.resolve("bin/java")), JDK17 + " is not installed");
    Daemon d = start("home", Map.of("JAVA_HOME", JDK17.toString(), "LAMINA_AOT", "0"));
    try {
      assertThat(d.javaBinary()).isEqualTo(JDK17.resolve("bin/java").toRealPath());
    } finally {
      assertThat(d.stop()).as(d.log()).isZero();
    }
  }

  @Test
  void withoutJavaHomeTheNewestJdkRuns() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(JDK25.resolve("bin/java")), JDK25 + " is not installed");
    Daemon d = start("newest", Map.of("LAMINA_AOT", "0"));
    try {
      assertThat(d.javaBinary()).isEqualTo(JDK25.resolve("bin/java").toRealPath());
      assertThat(d.log()).doesNotContain("WARNING: A restricted method");
    } finally {
      assertThat(d.stop()).as(d.log()).isZero();
    }
  }

  /** JDK 25: the AOT cache; JDK 17: a dynamic class-data archive. The same life cycle either way. */
  @Test
  void theFirstCleanStopLeavesACacheThatLaterStartsMap() throws Exception {
    for (Path jdk : List.of(JDK25, JDK17)) {
      if (!Files.isExecutable(jdk.resolve("bin/java"))) {
        System.err.println("BinLaminaStartupTest: " + jdk + " is not installed; its cache is not checked");
        continue;
      }
      String ext = jdk.equals(JDK25) ? ".aot" : ".jsa";
      Path cache = Files.createDirectories(tmp.resolve("cache" + ext));
      Map<String, String> env = Map.of("JAVA_HOME", jdk.toString(), "LAMINA_CACHE_DIR", cache.toString());

      Daemon first = start("first" + ext, env);
      assertThat(first.mappedFrom(cache)).as("no cache to map on the first start").isEmpty();
      assertThat(first.stop()).as(first.log()).isZero();
      assertThat(cacheFiles(cache)).as("the recording, under a temporary name").singleElement()
          .satisfies(p -> assertThat(p.getFileName().toString()).endsWith(ext + "." + first.process().pid() + ".tmp"));

      Daemon second = start("second" + ext, env);
      try {
        assertThat(cacheFiles(cache)).singleElement()
            .satisfies(p -> assertThat(p.getFileName().toString()).startsWith("serve-").endsWith(ext));
        assertThat(second.mappedFrom(cache)).as("the JVM maps the cache").containsExactly(
            cacheFiles(cache).get(0).toString());
      } finally {
        assertThat(second.stop()).as(second.log()).isZero();
      }

      // A cache the JVM cannot read (a disk error, a half-copied file): the daemon starts without it.
      Path archive = cacheFiles(cache).get(0);
      Files.write(archive, new byte[4096]);
      Daemon third = start("third" + ext, env);
      try {
        assertThat(third.process().isAlive()).isTrue();
      } finally {
        assertThat(third.stop()).as(third.log()).isZero();
      }
    }
  }
}
