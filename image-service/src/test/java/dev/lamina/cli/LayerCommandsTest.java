package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.archive.TarEntry;
import dev.lamina.archive.TarWriter;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.TreeAssert;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Drives {@code lamina layer apply} and {@code lamina layer diff} as a user would, through {@link Main#run}. */
class LayerCommandsTest {
  @TempDir Path tmp;

  private static CommandRun lamina(String... args) {
    return CommandRun.of(args);
  }

  private static String field(String json, String name) {
    Matcher m = Pattern.compile("\"" + name + "\":\"?([^\",}]*)").matcher(json);
    assertThat(m.find()).as("field %s in %s", name, json).isTrue();
    return m.group(1);
  }

  private static String sha256(Path file) throws Exception {
    return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
  }

  @Test
  void diffThenApplyRebuildsTheUpperTree() throws Exception {
    Path lower = tmp.resolve("lower");
    Path upper = tmp.resolve("upper");
    FsTree.apply(lower, FsTree.dir("etc", 0755), FsTree.file("etc/a", "one", 0644), FsTree.file("etc/gone", "x", 0644));
    FsTree.apply(upper, FsTree.dir("etc", 0755), FsTree.file("etc/a", "two", 0600), FsTree.file("bin/new", "n", 0755),
        FsTree.symlink("bin/link", "new"));
    Path layer = tmp.resolve("out/layer.tar.zst");

    CommandRun diff = lamina("layer", "diff", "--compression", "zstd", "--json", lower.toString(), upper.toString(),
        "--output", layer.toString());
    assertThat(diff.exit()).as(diff.err()).isZero();
    assertThat(field(diff.out(), "digest")).isEqualTo(sha256(layer));
    assertThat(field(diff.out(), "size")).isEqualTo(Long.toString(Files.size(layer)));
    assertThat(field(diff.out(), "mediaType")).isEqualTo("application/vnd.oci.image.layer.v1.tar+zstd");

    // The same diff twice gives the same bytes.
    Path again = tmp.resolve("out/again.tar.zst");
    assertThat(lamina("layer", "diff", "--compression", "zstd", lower.toString(), upper.toString(), "-o",
        again.toString()).exit()).isZero();
    assertThat(Files.readAllBytes(again)).isEqualTo(Files.readAllBytes(layer));

    CommandRun apply = lamina("layer", "apply", "--json", "--diff-id", field(diff.out(), "diffId"), lower.toString(),
        layer.toString());
    assertThat(apply.exit()).as(apply.err()).isZero();
    assertThat(field(apply.out(), "diffId")).isEqualTo(field(diff.out(), "diffId"));
    assertThat(field(apply.out(), "compressedSize")).isEqualTo(Long.toString(Files.size(layer)));
    TreeAssert.assertTreesEqual(upper, lower);
  }

  @Test
  void applyPrintsAReadableSummary() throws Exception {
    Path layer = tmp.resolve("l.tar");
    writeTar(layer, TarEntry.file("hello", 5, 0644, 0, 0, 0), "world");
    CommandRun r = lamina("layer", "apply", tmp.resolve("dir").toString(), layer.toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("diff id      " + sha256(layer)).contains("entries      1");
    assertThat(Files.readString(tmp.resolve("dir/hello"))).isEqualTo("world");
  }

  @Test
  void hostileLayerExitsNonZeroNamingTheEntryAndWritesNothingOutside() throws Exception {
    Path layer = tmp.resolve("evil.tar");
    writeTar(layer, TarEntry.file("../escaped", 4, 0644, 0, 0, 0), "pwnd");
    CommandRun r = lamina("layer", "apply", tmp.resolve("dir").toString(), layer.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("../escaped").contains("escapes the root");
    assertThat(tmp.resolve("escaped")).doesNotExist();
  }

  @Test
  void wrongDiffIdIsReportedWithAHint() throws Exception {
    Path layer = tmp.resolve("l.tar");
    writeTar(layer, TarEntry.file("f", 1, 0644, 0, 0, 0), "x");
    String wrong = "sha256:" + "0".repeat(64);
    CommandRun r = lamina("layer", "apply", "--diff-id", wrong, tmp.resolve("dir").toString(), layer.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("diff ID mismatch").contains(wrong).contains(sha256(layer));
  }

  @Test
  void aDiffIdMismatchLeavesAnEmptyDirUnchanged() throws Exception {
    Path layer = tmp.resolve("l.tar");
    writeTar(layer, TarEntry.file("f", 1, 0644, 0, 0, 0), "x");
    Path dir = Files.createDirectories(tmp.resolve("work/dir"));
    CommandRun r = lamina("layer", "apply", "--diff-id", "sha256:" + "0".repeat(64), dir.toString(), layer.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("diff ID mismatch").contains(dir + " is unchanged");
    assertThat(dir).isEmptyDirectory();
    assertThat(tmp.resolve("work")).as("no staging directory left beside DIR").isDirectoryContaining(p -> true)
        .satisfies(w -> assertThat(Files.list(w).toList()).containsExactly(dir));

    CommandRun fresh = lamina("layer", "apply", "--diff-id", "sha256:" + "0".repeat(64),
        tmp.resolve("work/new").toString(), layer.toString());
    assertThat(fresh.exit()).isEqualTo(1);
    assertThat(tmp.resolve("work/new")).isEmptyDirectory();

    CommandRun ok = lamina("layer", "apply", "--diff-id", sha256(layer), dir.toString(), layer.toString());
    assertThat(ok.exit()).as(ok.err()).isZero();
    assertThat(Files.readString(dir.resolve("f"))).isEqualTo("x");
    assertThat(Files.list(tmp.resolve("work")).map(p -> p.getFileName().toString()).sorted().toList())
        .containsExactly("dir", "new");
  }

  @Test
  void aDiffIdMismatchOnADirWithContentSaysItMayBePartlyWritten() throws Exception {
    Path layer = tmp.resolve("l.tar");
    writeTar(layer, TarEntry.file("f", 1, 0644, 0, 0, 0), "x");
    Path dir = Files.createDirectories(tmp.resolve("dir"));
    Files.writeString(dir.resolve("old"), "old");
    CommandRun r = lamina("layer", "apply", "--diff-id", "sha256:" + "0".repeat(64), dir.toString(), layer.toString());
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).contains("diff ID mismatch").contains("may be partly written");
  }

  @Test
  void usageErrorsSayWhatIsWrong() throws IOException {
    CommandRun missing = lamina("layer", "apply", tmp.resolve("d").toString(), tmp.resolve("nope.tar").toString());
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.err()).contains("nope.tar").contains("does not exist");

    CommandRun badMode = lamina("layer", "apply", "--whiteouts", "aufs", tmp.toString(), "-");
    assertThat(badMode.exit()).isEqualTo(1);
    assertThat(badMode.err()).contains("aufs").contains("naive or overlay");

    CommandRun badCompression = lamina("layer", "diff", "--compression", "lz4", tmp.toString(), tmp.toString(), "-o",
        tmp.resolve("x").toString());
    assertThat(badCompression.exit()).isEqualTo(1);
    assertThat(badCompression.err()).contains("lz4");

    assertThat(lamina("layer", "apply").exit()).isEqualTo(2);
  }

  private static void writeTar(Path file, TarEntry entry, String content) throws IOException {
    try (TarWriter w = new TarWriter(Files.newOutputStream(file))) {
      w.write(entry, new ByteArrayInputStream(content.getBytes(StandardCharsets.UTF_8)));
    }
  }
}
