package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.Fixtures;
import dev.lamina.oci.ImageConfig;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.Manifest;
import dev.lamina.oci.Manifests;
import dev.lamina.oci.MediaTypes;
import dev.lamina.oci.Platform;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against a real registry: Debian's {@code docker-registry} (distribution 2.8) on 127.0.0.1, images
 * built with {@code umoci} and pushed with {@code skopeo} (OCI and Docker schema 2, and a two-platform
 * index). No configuration: 127.0.0.1 is probed for TLS and reached over plain http, as containerd
 * does.
 */
class DistributionRegistryTest {
  private static final Path REGISTRY = Path.of("/usr/bin/docker-registry");
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;
  private static Process registry;
  private static String authority;
  private static Path layout;

  @BeforeAll
  static void startRegistryAndPush() throws Exception {
    assumeTrue(Files.isExecutable(REGISTRY), "docker-registry is not installed (apt-get install docker-registry)");
    assumeTrue(onPath("skopeo"), "skopeo is not installed (apt-get install skopeo)");
    assumeTrue(onPath("umoci"), "umoci is not installed (apt-get install umoci)");

    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    authority = "127.0.0.1:" + port;
    Path storage = Files.createDirectories(tmp.resolve("storage"));
    Path config = tmp.resolve("config.yml");
    Files.writeString(config, """
        version: 0.1
        log:
          level: warn
        storage:
          filesystem:
            rootdirectory: %s
        http:
          addr: %s
        """.formatted(storage, authority));
    registry = new ProcessBuilder(REGISTRY.toString(), "serve", config.toString())
        .redirectErrorStream(true)
        .redirectOutput(tmp.resolve("registry.log").toFile())
        .start();
    waitUntilServing();

    layout = tmp.resolve("layout");
    Path bundle = tmp.resolve("bundle");
    run("umoci", "init", "--layout", layout.toString());
    run("umoci", "new", "--image", layout + ":t");
    run("umoci", "unpack", "--rootless", "--image", layout + ":t", bundle.toString());
    Files.writeString(bundle.resolve("rootfs/hello.txt"), "hello from lamina\n");
    Files.createDirectories(bundle.resolve("rootfs/etc"));
    Files.writeString(bundle.resolve("rootfs/etc/motd"), "welcome\n");
    run("umoci", "repack", "--image", layout + ":t", bundle.toString());
    Path extra = tmp.resolve("extra.bin");
    Files.write(extra, Fixtures.bytes(200_000, 7));
    run("umoci", "insert", "--image", layout + ":t", extra.toString(), "/opt/extra.bin");
    run("umoci", "config", "--image", layout + ":t", "--config.user=1000:1000", "--config.cmd=/hello.txt",
        "--architecture", "amd64", "--os", "linux");
    run("umoci", "config", "--image", layout + ":t", "--tag", "t-arm64", "--architecture", "arm64");
    addIndex("multi", List.of("t", "t-arm64"), List.of(Platform.of("linux", "amd64"), Platform.of("linux", "arm64", "v8")));

    String dest = "docker://" + authority + "/test/img:";
    skopeo("oci:" + layout + ":t", dest + "oci");
    skopeo("--format", "v2s2", "oci:" + layout + ":t", dest + "docker");
    skopeo("--all", "oci:" + layout + ":multi", "docker://" + authority + "/test/multi:latest");
  }

  @AfterAll
  static void stopRegistry() throws InterruptedException {
    if (registry != null) {
      registry.destroy();
      if (!registry.waitFor(10, TimeUnit.SECONDS)) {
        registry.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  private static boolean onPath(String program) {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      if (Files.isExecutable(Path.of(dir, program))) {
        return true;
      }
    }
    return false;
  }

  private static void waitUntilServing() throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (!registry.isAlive()) {
        throw new IllegalStateException("docker-registry exited: " + Files.readString(tmp.resolve("registry.log")));
      }
      try {
        HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create("http://" + authority + "/v2/")).build(),
            HttpResponse.BodyHandlers.discarding());
        if (r.statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("docker-registry did not start: " + Files.readString(tmp.resolve("registry.log")));
  }

  private static void skopeo(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("skopeo", "copy", "--insecure-policy", "--dest-tls-verify=false"));
    cmd.addAll(List.of(args));
    run(cmd.toArray(new String[0]));
  }

  private static void run(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException(String.join(" ", cmd) + " timed out");
    }
    assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isZero();
  }

  /** Writes an OCI index of the given tags into the layout, tagged {@code name}. */
  private static void addIndex(String name, List<String> tags, List<Platform> platforms) throws IOException {
    Path indexJson = layout.resolve("index.json");
    ObjectNode top = (ObjectNode) JSON.readTree(indexJson.toFile());
    ObjectNode idx = JSON.createObjectNode();
    idx.put("schemaVersion", 2);
    idx.put("mediaType", MediaTypes.OCI_INDEX);
    ArrayNode entries = idx.putArray("manifests");
    for (int i = 0; i < tags.size(); i++) {
      for (JsonNode m : top.get("manifests")) {
        if (tags.get(i).equals(m.path("annotations").path("org.opencontainers.image.ref.name").asText())) {
          ObjectNode e = JSON.createObjectNode();
          e.put("mediaType", m.get("mediaType").asText());
          e.put("digest", m.get("digest").asText());
          e.put("size", m.get("size").asLong());
          ObjectNode p = e.putObject("platform");
          p.put("architecture", platforms.get(i).architecture());
          p.put("os", platforms.get(i).os());
          if (!platforms.get(i).variant().isEmpty()) {
            p.put("variant", platforms.get(i).variant());
          }
          entries.add(e);
        }
      }
    }
    byte[] bytes = JSON.writeValueAsBytes(idx);
    Digest d = Digest.sha256Of(bytes);
    Files.write(layout.resolve("blobs/sha256").resolve(d.hex()), bytes);
    ObjectNode ref = JSON.createObjectNode();
    ref.put("mediaType", MediaTypes.OCI_INDEX);
    ref.put("digest", d.toString());
    ref.put("size", bytes.length);
    ref.putObject("annotations").put("org.opencontainers.image.ref.name", name);
    ((ArrayNode) top.get("manifests")).add(ref);
    JSON.writeValue(indexJson.toFile(), top);
  }

  private RegistryClient client() {
    return new RegistryClient(RegistryOptions.defaults()
        .withRetries(3, Duration.ofMillis(50), Duration.ofMillis(200), Duration.ofSeconds(2)));
  }

  /** Resolves, fetches manifest, config and every layer, and checks every digest. */
  private Manifest pullAndVerify(RegistryClient c, ImageRef ref, String wantType) throws Exception {
    Resolved r = c.resolve(ref);
    assertThat(r.descriptor().mediaType()).isEqualTo(wantType);
    byte[] bytes = c.fetchManifest(ref, r.descriptor());
    assertThat(Digest.sha256Of(bytes)).isEqualTo(r.descriptor().digest());
    Manifest m = (Manifest) Manifests.parse(r.descriptor(), bytes);
    ImageConfig cfg = c.fetchConfig(ref, m);
    assertThat(cfg.config().user()).isEqualTo("1000:1000");
    assertThat(cfg.config().cmd()).containsExactly("/hello.txt");
    assertThat(cfg.rootfs().diffIds()).hasSameSizeAs(m.layers()).hasSizeGreaterThanOrEqualTo(2);
    for (Descriptor layer : m.layers()) {
      try (InputStream in = c.fetchBlob(ref, layer)) {
        assertThat(in.readAllBytes()).hasSize((int) layer.size());
      }
    }
    return m;
  }

  @Test
  void pullsAnOciImage() throws Exception {
    Manifest m = pullAndVerify(client(), ImageRef.parse(authority + "/test/img:oci"), MediaTypes.OCI_MANIFEST);
    assertThat(m.layers()).allSatisfy(l -> assertThat(l.mediaType()).isEqualTo(MediaTypes.OCI_LAYER_GZIP));
  }

  @Test
  void pullsADockerSchema2Image() throws Exception {
    Manifest m = pullAndVerify(client(), ImageRef.parse(authority + "/test/img:docker"), MediaTypes.DOCKER_MANIFEST);
    assertThat(m.config().mediaType()).isEqualTo(MediaTypes.DOCKER_CONFIG);
    assertThat(m.layers()).allSatisfy(l -> assertThat(l.mediaType()).isEqualTo(MediaTypes.DOCKER_LAYER_GZIP));
  }

  @Test
  void resumesALayerWithARange() throws Exception {
    RegistryClient c = client();
    ImageRef ref = ImageRef.parse(authority + "/test/img:oci");
    Manifest m = c.selectPlatform(ref, c.resolve(ref).descriptor());
    Descriptor biggest = m.layers().stream().max(java.util.Comparator.comparingLong(Descriptor::size)).orElseThrow();
    byte[] whole;
    try (InputStream in = c.fetchBlob(ref, biggest)) {
      whole = in.readAllBytes();
    }
    long offset = biggest.size() / 2;
    var state = Digest.newSha256();
    state.update(whole, 0, (int) offset);
    try (InputStream in = c.fetchBlob(ref, biggest, offset, state)) {
      assertThat(in.readAllBytes()).hasSize((int) (biggest.size() - offset));
    }
  }

  @Test
  void narrowsTheIndexToEachPlatform() throws Exception {
    RegistryClient c = client();
    ImageRef ref = ImageRef.parse(authority + "/test/multi");
    Resolved r = c.resolve(ref);
    assertThat(r.descriptor().mediaType()).isEqualTo(MediaTypes.OCI_INDEX);

    Manifest amd = c.selectPlatform(ref, r.descriptor(), Platform.parse("linux/amd64").matcher(), (d, b) -> { });
    Manifest arm = c.selectPlatform(ref, r.descriptor(), Platform.of("linux", "aarch64").matcher(), (d, b) -> { });
    assertThat(amd.descriptor().digest()).isNotEqualTo(arm.descriptor().digest());
    assertThat(c.fetchConfig(ref, amd).architecture()).isEqualTo("amd64");
    assertThat(c.fetchConfig(ref, arm).architecture()).isEqualTo("arm64");

    // By digest too.
    Resolved byDigest = c.resolve(ref.withDigest(amd.descriptor().digest()));
    assertThat(byDigest.descriptor().digest()).isEqualTo(amd.descriptor().digest());
    assertThat(byDigest.descriptor().mediaType()).isEqualTo(MediaTypes.OCI_MANIFEST);
  }

  @Test
  void unknownTagAndBlobAreNotFound() throws Exception {
    RegistryClient c = client();
    ImageRef ref = ImageRef.parse(authority + "/test/img:nope");
    LaminaException e = org.assertj.core.api.Assertions.catchThrowableOfType(LaminaException.class, () -> c.resolve(ref));
    assertThat(e.kind()).isEqualTo(ErrorKind.NOT_FOUND);
    assertThat(e.getMessage()).contains("manifest unknown").contains(authority + "/test/img:nope");

    Descriptor missing = Descriptor.of(MediaTypes.OCI_LAYER_GZIP, Digest.sha256Of(new byte[] {1, 2, 3}), 3);
    LaminaException b = org.assertj.core.api.Assertions.catchThrowableOfType(LaminaException.class, () -> c.fetchBlob(ref, missing));
    assertThat(b.kind()).isEqualTo(ErrorKind.NOT_FOUND);
    assertThat(b.getMessage()).contains("blob unknown").contains(missing.digest().toString());
  }
}
