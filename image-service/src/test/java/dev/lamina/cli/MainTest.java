package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;

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
  void versionNeedsNoVerb() {
    CommandRun r = CommandRun.of("--version");

    assertThat(r.exit()).isZero();
    assertThat(r.out()).startsWith("lamina ");
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
