package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.config.ConfigException;
import dev.lamina.config.ConfigFile;
import dev.lamina.config.ConfigTemplate;
import dev.lamina.config.OptionDefaults;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

class ServeConfigFileTest {
  @TempDir Path dir;

  /** serve's options after parsing {@code args} the way Main does: the file first, then the flags. */
  private ServeCommand parse(String... args) throws ConfigException {
    ServeCommand serve = new ServeCommand();
    CommandLine cl = new CommandLine(serve);
    ConfigOptions.install(cl, args);
    cl.parseArgs(args);
    return serve;
  }

  private Path file(String toml) throws IOException {
    Path f = dir.resolve("lamina.toml");
    Files.writeString(f, toml);
    return f;
  }

  @Test
  void fileSetsOptionsAndFlagsOverrideIt() throws Exception {
    Path f = file("""
        root = "/srv/lamina"
        socket = "/srv/lamina.sock"
        layers-per-pull = 5
        """);
    ServeCommand s = parse("--config", f.toString(), "--socket", "/flag.sock");
    assertThat(s.root).isEqualTo(Path.of("/srv/lamina"));
    assertThat(s.criSocket).isEqualTo(Path.of("/flag.sock"));
    assertThat(s.layersPerPull).isEqualTo(5);
    assertThat(s.layersInTotal).isEqualTo(6); // untouched: the built-in default
  }

  @Test
  void listsReplaceTheDefaultAndAFlagReplacesTheFileList() throws Exception {
    Path f = file("""
        pinned-image = ["registry.k8s.io/pause:3.10", "docker.io/library/busybox:1,36"]
        differ = ["walking", "other"]
        """);
    ServeCommand fromFile = parse("--config=" + f);
    assertThat(fromFile.pinnedImages).containsExactly("registry.k8s.io/pause:3.10", "docker.io/library/busybox:1,36");
    assertThat(fromFile.differs).containsExactly("walking", "other");

    ServeCommand flags = parse("--config", f.toString(), "--pinned-image", "a:1", "--differ", "x");
    assertThat(flags.pinnedImages).containsExactly("a:1");
    assertThat(flags.differs).containsExactly("x");
  }

  @Test
  void booleans() throws Exception {
    assertThat(parse("--config", file("drop-compressed-layers = true\n").toString()).dropCompressedLayers).isTrue();
    assertThat(parse("--config", file("drop-compressed-layers = false\n").toString()).dropCompressedLayers).isFalse();
  }

  @Test
  void tablesGroupKeysByTheirFirstWord() throws Exception {
    ServeCommand s = parse("--config", file("""
        [snapshotter]
        socket = "/t/snap.sock"
        name = "lamina"
        """).toString());
    assertThat(s.snapshotterSocket).isEqualTo(Path.of("/t/snap.sock"));
    assertThat(s.snapshotterName).isEqualTo("lamina");
  }

  @Test
  void unknownKeyFailsNamingKeyAndFile() throws Exception {
    Path f = file("rooot = \"/x\"\n");
    assertThatThrownBy(() -> parse("--config", f.toString()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(f.toString())
        .hasMessageContaining("unknown key 'rooot'");
  }

  @Test
  void wrongTypesFailNamingKeyAndFile() throws Exception {
    for (String toml : List.of("layers-per-pull = \"3\"", "drop-compressed-layers = \"yes\"", "root = 7",
        "pinned-image = \"pause\"", "pinned-image = [1]", "config = \"/other\"",
        "layers-per-pull = 99999999999")) {
      Path f = file(toml + "\n");
      String key = toml.substring(0, toml.indexOf(' '));
      assertThatThrownBy(() -> parse("--config", f.toString()), toml)
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining(f.toString())
          .hasMessageContaining("'" + key + "'");
    }
  }

  @Test
  void missingAndMalformedFilesFailNamingTheFile() throws Exception {
    Path missing = dir.resolve("absent.toml");
    assertThatThrownBy(() -> parse("--config", missing.toString()))
        .isInstanceOf(ConfigException.class).hasMessageContaining(missing + ": no such file");
    Path bad = file("root = \n");
    assertThatThrownBy(() -> parse("--config", bad.toString()))
        .isInstanceOf(ConfigException.class).hasMessageContaining(bad + ": not valid TOML");
  }

  @Test
  void aBadValueFromTheFileIsReportedWithTheFileThroughMain() throws Exception {
    Path f = file("snapshotter-socket = \"bad\\u0000path\"\n"); // a TOML string, but no path
    java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
    java.io.PrintStream old = System.err;
    int code;
    try {
      System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
      code = Main.run("serve", "--config", f.toString());
    } finally {
      System.setErr(old);
    }
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(java.nio.charset.StandardCharsets.UTF_8))
        .contains(f.toString()).contains("key 'snapshotter-socket'");
  }

  @Test
  void defaultFileListsEveryServeOptionAndRoundTripsToTheDefaults() throws Exception {
    String text = ConfigCommand.Default.text();
    CommandLine plain = new CommandLine(new ServeCommand());
    Map<String, OptionSpec> keys = OptionDefaults.keys(plain.getCommandSpec(), ConfigOptions.NAME);
    assertThat(keys).containsKeys("root", "socket", "pinned-image", "drop-compressed-layers");
    for (String key : keys.keySet()) {
      assertThat(text).as(key).containsPattern("(?m)^(# )?" + java.util.regex.Pattern.quote(key) + " = ");
    }
    ConfigFile parsed = ConfigFile.read(file(text));
    // every option with a default is written, uncommented
    for (Map.Entry<String, OptionSpec> e : keys.entrySet()) {
      String declared = ConfigTemplate.declaredDefault(e.getValue());
      if (declared != null && !declared.contains("${")) {
        assertThat(parsed.values()).as(e.getKey()).containsKey(e.getKey());
      }
    }
    ServeCommand defaults = parse();
    ServeCommand fromFile = parse("--config", dir.resolve("lamina.toml").toString());
    CommandLine a = new CommandLine(defaults);
    CommandLine b = new CommandLine(fromFile);
    for (String key : keys.keySet()) {
      Object expected = a.getCommandSpec().findOption("--" + key).getValue();
      Object actual = b.getCommandSpec().findOption("--" + key).getValue();
      assertThat(actual).as(key).isEqualTo(expected);
    }
  }

  @Test
  void configCheckAcceptsWhatServeAcceptsAndNamesTheKeyOtherwise() throws Exception {
    Path good = file("root = \"/srv/lamina\"\npinned-image = [\"registry.k8s.io/pause:3.10\"]\n");
    assertThat(Main.run("config", "check", good.toString())).isZero();
    Path unknown = dir.resolve("unknown.toml");
    Files.writeString(unknown, "roots = \"/x\"\n");
    assertThat(Main.run("config", "check", unknown.toString())).isEqualTo(1);
    Path badPath = dir.resolve("bad-path.toml");
    Files.writeString(badPath, "socket = \"a\\u0000b\"\n");
    assertThat(Main.run("config", "check", badPath.toString())).isEqualTo(1);
  }
}
