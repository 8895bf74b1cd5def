package dev.lamina.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The image {@code mvn -Pimage package} writes to {@code target/lamina-image.tar}: an OCI archive
 * that skopeo reads and umoci unpacks, with the project's labels, {@code lamina serve} as its
 * default command and, under {@code /opt/lamina}, what the chart's node setup copies to the host.
 */
class ImageArchiveIT {
  static final Path ARCHIVE = Path.of(System.getProperty("lamina.image.archive", "target/lamina-image.tar"));
  static final String NAME = System.getProperty("lamina.image.name", "lamina:unknown");
  static final String VERSION = System.getProperty("lamina.version", "unknown");
  static final String REVISION = System.getProperty("lamina.image.revision", "unknown");
  /** The base the build made; its file {@code jdk} names the JDK the runtime comes from. */
  static final Path BASE = Path.of(System.getProperty("lamina.image.base", "target/base"));
  private static final ObjectMapper JSON = new ObjectMapper();

  private Path dir;

  // not JUnit's temporary directory: its clean-up warns of every absolute link in the image
  @BeforeEach
  void makeDirectory() throws IOException {
    dir = Files.createTempDirectory("lamina-image-");
  }

  @AfterEach
  void removeDirectory() throws Exception {
    Exec.run("rm", "-rf", "--one-file-system", dir.toString()).check();
  }

  @Test
  void configHasTheLabelsTheCommandAndTheEnvironment() throws Exception {
    assumeTrue(Exec.installed("skopeo"), "skopeo not installed (apt-get install skopeo)");
    JsonNode image = JSON.readTree(Exec.run("skopeo", "inspect", "--config", "oci-archive:" + ARCHIVE).check().out());
    JsonNode config = image.path("config");

    Map<String, String> labels = new TreeMap<>();
    config.path("Labels").properties().forEach(e -> labels.put(e.getKey(), e.getValue().asText()));
    assertThat(labels)
        .containsEntry("org.opencontainers.image.title", "lamina")
        .containsEntry("org.opencontainers.image.version", VERSION)
        .containsEntry("org.opencontainers.image.revision", REVISION)
        .containsEntry("org.opencontainers.image.source", "https://github.com/lamina-dev/lamina");
    assertThat(REVISION).as("the build's commit").matches("[0-9a-f]{40}");
    assertThat(strings(config.path("Entrypoint"))).containsExactly("/opt/lamina/bin/lamina");
    assertThat(strings(config.path("Cmd"))).containsExactly("serve");
    assertThat(strings(config.path("Env"))).contains(
        "PATH=/opt/lamina/bin:/opt/lamina/jre/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "JAVA_HOME=/opt/lamina/jre", "LAMINA_JAR=/opt/lamina/lamina.jar");
    assertThat(image.path("os").asText()).isEqualTo("linux");
    assertThat(image.path("architecture").asText()).isEqualTo("amd64");
    // the Debian base, the Java runtime, bin/lamina, lamina.jar: from the slowest to change to the fastest
    assertThat(image.path("rootfs").path("diff_ids")).hasSize(4);
    List<String> history = new ArrayList<>();
    image.path("history").forEach(h -> history.add(h.path("created_by").asText()));
    assertThat(history.get(0)).startsWith("debootstrap --variant=minbase");
    assertThat(history.get(1)).startsWith("jlink --add-modules java.base,");
  }

  @Test
  void unpacksToARootWithLaminaItsRuntimeAndWhatServeRuns() throws Exception {
    assumeTrue(Exec.installed("umoci"), "umoci not installed (apt-get install umoci)");
    Path rootfs = unpack(dir);

    // serve's programs, and those of the chart's node-setup.sh (bash, awk, cmp, curl, nsenter)
    for (String file : List.of("opt/lamina/bin/lamina", "opt/lamina/jre/bin/java", "usr/bin/mount", "usr/bin/igzip",
        "usr/bin/unpigz", "usr/bin/bash", "usr/bin/awk", "usr/bin/cmp", "usr/bin/curl", "usr/bin/nsenter")) {
      assertThat(rootfs.resolve(file)).as(file).isExecutable();
    }
    assertThat(rootfs.resolve("opt/lamina/lamina.jar")).isRegularFile();
    assertThat(rootfs.resolve("etc/ssl/certs/ca-certificates.crt")).isNotEmptyFile();
    assertThat(rootfs.resolve("opt/lamina/jre/lib/server/classes.jsa")).as("the runtime's class-data archive")
        .isRegularFile();
    assertThat(rootfs.resolve("var/lib/apt/lists")).isEmptyDirectory();
    assertThat(rootfs.resolve("var/cache/apt")).isEmptyDirectory();
    assertThat(rootfs.resolve("usr/lib/jvm")).as("the JDK jlink ran from is not in the image").doesNotExist();

    // the runtime of the JDK the build chose: Temurin 25 when the build machine has it, else Debian's
    // openjdk-17; the modules jdeps found and those only found at run time
    Map<String, String> release = release(rootfs.resolve("opt/lamina/jre/release"));
    assertThat(release.getOrDefault("MODULES", "").split(" ")).as("the runtime's modules").contains("java.base",
        "java.desktop", "java.net.http", "java.sql", "jdk.httpserver", "jdk.jfr", "jdk.management",
        "jdk.security.auth", "jdk.unsupported", "jdk.crypto.ec", "jdk.naming.dns", "jdk.zipfs");
    String jdk = Files.readString(BASE.resolve("jdk")).strip();
    if (jdk.startsWith("/")) {
      Map<String, String> source = release(Path.of(jdk, "release"));
      assertThat(release.get("JAVA_VERSION")).as("the runtime's version, that of %s", jdk)
          .isEqualTo(source.get("JAVA_VERSION"));
      if ("Eclipse Adoptium".equals(source.get("IMPLEMENTOR")) && source.get("JAVA_VERSION").startsWith("25")) {
        assertThat(release.get("JAVA_VERSION")).as("the runtime of Temurin 25").matches("25(\\..*)?");
      }
    } else {
      assertThat(jdk).isEqualTo("openjdk-17-jdk-headless");
      assertThat(release.get("JAVA_VERSION")).as("the runtime of Debian's openjdk-17").matches("17(\\..*)?");
    }

    // the image's runtime runs the image's jar: every module `lamina serve` needs is in it
    Path java = rootfs.resolve("opt/lamina/jre/bin/java");
    Path jar = rootfs.resolve("opt/lamina/lamina.jar");
    assertThat(Exec.run(java.toString(), "-jar", jar.toString(), "--version").check().out())
        .startsWith("lamina " + VERSION + " ");
    Path state = Files.createDirectories(dir.resolve("state"));
    Path socket = state.resolve("lamina.sock");
    Process serve = new ProcessBuilder(java.toString(), "-jar", jar.toString(), "serve",
        "--root", state.toString(), "--socket", socket.toString(),
        "--snapshotter-socket", state.resolve("snapshotter.sock").toString(), "--snapshotter", "copying",
        "--containerd-address=").redirectErrorStream(true).redirectOutput(dir.resolve("serve.log").toFile()).start();
    try {
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (!Files.exists(socket) && serve.isAlive() && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertThat(Files.exists(socket)).as("serve's socket; its log:\n%s", Files.readString(dir.resolve("serve.log")))
          .isTrue();
    } finally {
      serve.destroy();
      serve.waitFor();
    }
  }

  /** umoci unpack of the archive's one image; the root file system it made. */
  static Path unpack(Path dir) throws IOException, InterruptedException {
    Path layout = Files.createDirectories(dir.resolve("layout"));
    Exec.run("tar", "-xf", ARCHIVE.toString(), "-C", layout.toString()).check();
    JsonNode index = JSON.readTree(layout.resolve("index.json").toFile());
    assertThat(index.path("manifests")).hasSize(1);
    String ref = index.path("manifests").get(0).path("annotations").path("org.opencontainers.image.ref.name").asText();
    assertThat(ref).as("the image's name in index.json").isNotEmpty();
    Path bundle = dir.resolve("bundle");
    List<String> command = new ArrayList<>(List.of("umoci", "unpack"));
    if (!Exec.root()) {
      command.add("--rootless");
    }
    command.addAll(List.of("--image", layout + ":" + ref, bundle.toString()));
    Exec.run(command.toArray(String[]::new)).check();
    return bundle.resolve("rootfs");
  }

  /** A JDK's release file: NAME="value" lines. */
  private static Map<String, String> release(Path file) throws IOException {
    Map<String, String> values = new TreeMap<>();
    for (String line : Files.readAllLines(file)) {
      int eq = line.indexOf('=');
      if (eq > 0) {
        values.put(line.substring(0, eq), line.substring(eq + 1).replaceAll("^\"|\"$", ""));
      }
    }
    return values;
  }

  private static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }
}
