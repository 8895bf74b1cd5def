package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's example runs as written: the shell blocks of "Images from the command line", in
 * order, in one shell at the top of the source tree, against Debian's docker-registry on
 * 127.0.0.1. Only the variables the README names change: {@code REGISTRY} (the test registry's
 * port) and {@code LAMINA_DIR} (a temporary directory), and bin/lamina's documented
 * {@code LAMINA_CACHE_DIR}.
 */
class ReadmeTest {
  static final String SECTION = "## Images from the command line";

  @TempDir Path tmp;

  /** The bodies of the ```sh blocks in the README section whose heading is {@code heading}. */
  static List<String> shellBlocks(String readme, String heading) {
    int start = readme.indexOf("\n" + heading + "\n");
    assertThat(start).as("README has a section " + heading).isNotNegative();
    int end = readme.indexOf("\n## ", start + heading.length() + 1);
    String section = readme.substring(start, end < 0 ? readme.length() : end);
    List<String> blocks = new ArrayList<>();
    Matcher m = Pattern.compile("(?m)^```sh\\n(.*?)^```$", Pattern.DOTALL).matcher(section);
    while (m.find()) {
      blocks.add(m.group(1));
    }
    return blocks;
  }

  @Test
  void theImagesExampleRunsAsWritten() throws Exception {
    ContainerdLaminaProcess.assumeBuilt();
    Assumptions.assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    Umoci.assumeInstalled();
    Path root = ContainerdHarness.projectRoot();
    List<String> blocks = shellBlocks(Files.readString(root.resolve("README.md")), SECTION);
    assertThat(blocks).as("the example's shell blocks").hasSizeGreaterThanOrEqualTo(3);
    String script = String.join("\n", blocks);
    assertThat(script).as("the example uses full references only")
        .contains("\"$REGISTRY/library/hello:latest\"")
        .doesNotContainPattern("(?m)^bin/lamina (inspecti|rmi) (hello|busybox)\\b");

    try (DockerRegistry registry = DockerRegistry.start(tmp.resolve("registry"))) {
      Path dir = tmp.resolve("lamina");
      Files.writeString(tmp.resolve("example.sh"), "set -eu\n"
          + "trap '[ -z \"${LAMINA_PID:-}\" ] || kill $LAMINA_PID 2>/dev/null || true' EXIT\n"
          + "set -x\n" + script);
      Commands.Result r = Commands.run(root, Duration.ofMinutes(4), Map.of(
          "REGISTRY", "127.0.0.1:" + registry.port(),
          "LAMINA_DIR", dir.toString(),
          "LAMINA_CACHE_DIR", tmp.resolve("cache").toString()),
          List.of("bash", tmp.resolve("example.sh").toString()));
      String log = Files.exists(dir.resolve("serve.log")) ? Files.readString(dir.resolve("serve.log")) : "";
      assertThat(r.exitCode()).as("exit of the README example\nstdout:\n%s\nstderr:\n%s\nserve.log:\n%s",
          r.stdout(), r.stderr(), log).isZero();
      String image = "127.0.0.1:" + registry.port() + "/library/hello";
      assertThat(r.stdout())
          .contains("sha256:") // the pull prints the image ID
          .containsPattern("(?m)^" + Pattern.quote(image) + "\\s+latest\\s") // images
          .contains("\"repoTags\"") // inspecti
          .contains("Deleted: " + image + ":latest"); // rmi
    }
  }

  @Test
  void theExampleSectionHasItsBlocks() throws IOException {
    String readme = Files.readString(ContainerdHarness.projectRoot().resolve("README.md"));
    assertThat(shellBlocks(readme, SECTION)).hasSizeGreaterThanOrEqualTo(3);
    assertThat(shellBlocks(readme, "## The two commands")).containsExactly(
        "mvn -q -DskipTests package && bin/lamina serve --root /tmp/lamina --socket /tmp/lamina/lamina.sock "
            + "--snapshotter-socket /tmp/lamina/snapshotter.sock\n",
        "scripts/test\n");
  }
}
