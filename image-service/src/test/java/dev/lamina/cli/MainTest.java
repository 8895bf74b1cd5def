package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class MainTest {
  @Test
  void helpListsEveryVerb() {
    CommandRun r = CommandRun.of("--help");

    assertThat(r.exit()).isZero();
    assertThat(r.out()).contains("serve", "layer", "pull", "images, image, img", "inspecti", "rmi",
        "imagefsinfo", "help");
  }

  @Test
  void aVerbAndItsAliasesRunTheVerb() {
    for (String verb : new String[] {"images", "image", "img"}) {
      CommandRun r = CommandRun.of(verb, "--help");

      assertThat(r.exit()).as(verb).isZero();
      assertThat(r.out()).as(verb).startsWith("Usage: lamina images").contains("--socket");
    }
  }

  @Test
  void helpOfAVerbPrintsItsUsage() {
    CommandRun r = CommandRun.of("help", "rmi");

    assertThat(r.exit()).isZero();
    assertThat(r.out()).startsWith("Usage: lamina rmi");
  }

  @Test
  void versionIsTheProjectVersionAndTheCommit() throws Exception {
    String pom = Files.readString(Path.of("pom.xml"));
    Matcher parent = Pattern.compile("<parent>.*?<version>([^<]+)</version>", Pattern.DOTALL).matcher(pom);
    assertThat(parent.find()).isTrue();
    String commit = gitHead();

    for (String[] args : new String[][] {{"--version"}, {"-V"}, {"pull", "--version"}}) {
      CommandRun r = CommandRun.of(args);

      assertThat(r.exit()).as(String.join(" ", args)).isZero();
      assertThat(r.out().strip()).as(String.join(" ", args))
          .isEqualTo("lamina " + parent.group(1) + " (commit " + commit + ")");
    }
  }

  /** HEAD as the build saw it, or "unknown" outside a git work tree. */
  private static String gitHead() throws Exception {
    try {
      Process p = new ProcessBuilder("git", "rev-parse", "--short=12", "HEAD").redirectErrorStream(false).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      return p.waitFor() == 0 && !out.isEmpty() ? out : "unknown";
    } catch (IOException e) {
      return "unknown";
    }
  }

  @Test
  void unfilledVersionValuesReadUnknown() {
    assertThat(VersionProvider.line("${project.version}", null)).isEqualTo("lamina unknown (commit unknown)");
    assertThat(VersionProvider.line("1.2.3", "abc")).isEqualTo("lamina 1.2.3 (commit abc)");
  }

  @Test
  void helpBeforeAVerbStillListsEveryVerb() {
    CommandRun r = CommandRun.of("-h", "pull");

    assertThat(r.exit()).isZero();
    assertThat(r.out()).startsWith("Usage: lamina [-hV] [COMMAND]").contains("serve", "rmi", "imagefsinfo");
  }

  @Test
  void anUnknownVerbIsAUsageErrorThatSuggestsTheNearestVerb() {
    CommandRun r = CommandRun.of("pul", "busybox");

    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("Unmatched arguments").contains("Did you mean: lamina pull?");
  }
}
