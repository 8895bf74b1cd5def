package dev.lamina.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** A command's mixins are keys with no code for them: options added later need nothing here. */
class OptionDefaultsTest {
  @TempDir Path dir;

  enum Format { TEXT, JSON }

  static final class LogMixin {
    @Option(names = "--log-format", defaultValue = "TEXT", description = "Log format. Default: ${DEFAULT-VALUE}.")
    Format format;

    @Option(names = "--node-name", defaultValue = "${env:LAMINA_TEST_UNSET_NODE}", description = "This node.")
    String nodeName;
  }

  @Command(name = "demo")
  static final class Demo {
    @Mixin LogMixin log;

    @Option(names = "--size-interval", defaultValue = "30", description = "Seconds. Default: ${DEFAULT-VALUE}.")
    int sizeInterval;

    @Option(names = "--label", split = ",", description = "Labels.")
    List<String> labels;

    @Option(names = "--path", description = "A path.")
    String path;
  }

  private Demo parse(String toml, String... args) throws IOException, ConfigException {
    Path f = dir.resolve("demo.toml");
    Files.writeString(f, toml);
    Demo demo = new Demo();
    CommandLine cl = new CommandLine(demo);
    OptionDefaults.install(cl, ConfigFile.read(f));
    cl.parseArgs(args);
    return demo;
  }

  @Test
  void mixinOptionsAreKeysAndTablesNameThem() throws Exception {
    Demo d = parse("""
        size-interval = 5
        label = ["a", "b"]
        path = "/x/${HOME}"
        [log]
        format = "JSON"
        """);
    assertThat(d.log.format).isEqualTo(Format.JSON);
    assertThat(d.sizeInterval).isEqualTo(5);
    assertThat(d.labels).containsExactly("a", "b");
    assertThat(d.path).isEqualTo("/x/${HOME}"); // taken as written, not interpolated
  }

  @Test
  void flagsWinOverTheFile() throws Exception {
    Demo d = parse("log-format = \"JSON\"\nsize-interval = 5\n", "--log-format", "TEXT");
    assertThat(d.log.format).isEqualTo(Format.TEXT);
    assertThat(d.sizeInterval).isEqualTo(5);
  }

  @Test
  void aBadEnumValueFailsAtParseNamingTheOption() {
    assertThatThrownBy(() -> parse("log-format = \"YAML\"\n"))
        .isInstanceOf(CommandLine.ParameterException.class)
        .hasMessageContaining("--log-format");
  }

  @Test
  void theTemplateCommentsOutDefaultsFromTheEnvironmentAndReadsBackToTheDefaults() throws Exception {
    String text = ConfigTemplate.render(new CommandLine(new Demo()).getCommandSpec(), "demo");
    assertThat(text)
        .contains("\nlog-format = \"TEXT\"\n")
        .contains("\nsize-interval = 30\n")
        .contains("\n# node-name = \"\"    # default: ${env:LAMINA_TEST_UNSET_NODE}\n")
        .contains("\n# label = [\"\"]\n")
        .contains("\n# --size-interval: Seconds.\nsize-interval = 30\n"); // the default is stated once
    Demo d = parse(text);
    assertThat(d.log.format).isEqualTo(Format.TEXT);
    assertThat(d.sizeInterval).isEqualTo(30);
    assertThat(d.log.nodeName).isNull();
  }
}
