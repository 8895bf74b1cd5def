package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.images.Images;
import dev.lamina.images.TestRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code lamina serve}'s pull settings, as an operator passes them. */
class ServeCommandTest {
  @TempDir Path tmp;

  private static CommandRun lamina(String... args) {
    return CommandRun.of(args);
  }

  private String[] serve(String... extra) {
    List<String> a = new ArrayList<>(List.of("serve", "--root", tmp.resolve("root").toString(), "--socket",
        tmp.resolve("cri.sock").toString(), "--snapshotter-socket", tmp.resolve("snap.sock").toString(),
        "--snapshotter", "copying"));
    a.addAll(List.of(extra));
    return a.toArray(String[]::new);
  }

  @Test
  void badSettingsAreRefusedBeforeAnythingIsCreated() {
    CommandRun noDir = lamina(serve("--registry-config-dir", tmp.resolve("missing").toString()));
    CommandRun badRef = lamina(serve("--pinned-image", "Not A Reference"));
    CommandRun zero = lamina(serve("--layers-per-pull", "0"));
    CommandRun timeout = lamina(serve("--pull-progress-timeout", "0"));
    CommandRun gunzip = lamina(serve("--gunzip", tmp.resolve("no-igzip").toString()));

    assertThat(noDir.exit()).isEqualTo(1);
    assertThat(noDir.err()).contains("--registry-config-dir").contains("missing").contains("not a directory");
    assertThat(badRef.exit()).isEqualTo(1);
    assertThat(badRef.err()).contains("Not A Reference");
    assertThat(zero.exit()).isEqualTo(1);
    assertThat(zero.err()).contains("--layers-per-pull");
    assertThat(timeout.exit()).isEqualTo(1);
    assertThat(timeout.err()).contains("--pull-progress-timeout");
    assertThat(gunzip.exit()).isEqualTo(1);
    assertThat(gunzip.err()).contains("--gunzip").contains("no-igzip").contains("not an executable file");
    assertThat(tmp.resolve("root")).doesNotExist();
  }

  /**
   * A registry known only through hosts.toml (its name does not resolve; the file sends it to
   * 127.0.0.1), and the image pinned by configuration: the pull works and the image is pinned.
   */
  @Test
  void registryConfigDirAndPinnedImagesReachThePulls() throws Exception {
    Images.Image image = Images.image(List.of(Images.layer().dir("etc", 0755).file("etc/motd", "hello\n").build()));
    try (TestRegistry registry = new TestRegistry()) {
      Images.push(registry, "library/app", "1", image);
      Path hosts = tmp.resolve("hosts");
      Path host = Files.createDirectories(hosts.resolve("mirror.invalid:5000"));
      Files.writeString(host.resolve("hosts.toml"), "server = \"http://" + registry.authority() + "\"\n");
      String ref = "mirror.invalid:5000/library/app:1";

      List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-Xmx128m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
      // linked to a containerd that is not there: pulls are served all the same
      Path noContainerd = tmp.resolve("no-containerd.sock");
      cmd.addAll(List.of(serve("--registry-config-dir", hosts.toString(), "--pinned-image", ref,
          "--containerd-address", noContainerd.toString())));
      Process daemon = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(tmp.resolve("serve.log").toFile()).start();
      try {
        Path socket = tmp.resolve("cri.sock");
        for (int i = 0; i < 600 && !Files.exists(socket) && daemon.isAlive(); i++) {
          Thread.sleep(50);
        }
        assertThat(socket).as(Files.readString(tmp.resolve("serve.log"))).exists();

        CommandRun pull = lamina("pull", "--socket", socket.toString(), ref);
        CommandRun inspect = lamina("inspecti", "--socket", socket.toString(), ref);

        assertThat(pull.exit()).as(pull.err()).isZero();
        assertThat(pull.out()).contains("sha256:" + image.configDigest().hex());
        JsonNode status = new ObjectMapper().readTree(inspect.out()).path("status");
        assertThat(status.path("pinned").asBoolean()).as(inspect.out()).isTrue();
        assertThat(status.path("repoTags").toString()).contains(ref);
        assertThat(Files.readString(tmp.resolve("serve.log")))
            .contains("containerd at unix://" + noContainerd + " is not reachable");
      } finally {
        daemon.destroy();
        assertThat(daemon.waitFor(30, TimeUnit.SECONDS)).isTrue();
      }
      assertThat(daemon.exitValue()).as(Files.readString(tmp.resolve("serve.log"))).isZero();
    }
  }
}
