package dev.lamina.diff;

import static dev.lamina.fstest.FsTree.chardev;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.fifo;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.mtime;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.symlink;
import static dev.lamina.fstest.FsTree.xattr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.archive.TarEntry;
import dev.lamina.compression.Compression;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.RandomTrees;
import dev.lamina.fstest.Root;
import dev.lamina.posix.Posix;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class WalkingComparerTest {
  /** 2023-11-14T22:13:20Z, whole seconds: what a tar round trip keeps. */
  private static final long T = 1_700_000_000_000_000_000L;

  @TempDir Path tmp;

  private Path lower;
  private Path upper;

  /** Builds lower from {@code base}, upper as a {@code cp -a} of it with {@code changes} on top. */
  private void trees(List<FsOp> base, FsOp... changes) throws IOException {
    lower = tmp.resolve("lower");
    upper = tmp.resolve("upper");
    FsTree.apply(lower, base);
    Layers.copyTree(lower, upper);
    FsTree.apply(upper, changes);
  }

  @Test
  void equalTreesGiveAnEmptyLayer() throws IOException {
    trees(List.of(dir("etc", 0755), file("etc/passwd", "root:x:0:0", 0644), symlink("l", "etc"), fifo("p", 0600),
        link("etc/hard", "etc/passwd")));

    Layers.Written layer = Layers.walk(lower, upper);
    Layers.Written self = Layers.walk(lower, lower);

    assertThat(layer.items()).isEmpty();
    assertThat(self.items()).isEmpty();
    // an empty tar is its end marker: two zero blocks
    assertThat(layer.blob()).isEqualTo(new byte[1024]);
    assertThat(layer.result().diffId()).isEqualTo(Digest.sha256Of(new byte[1024]));
  }

  @Test
  void addModifyDelete() throws IOException {
    trees(List.of(
            dir("etc", 0755), file("etc/passwd", "root", 0644), file("etc/hosts", "h", 0644),
            dir("usr/lib", 0755), file("usr/lib/libc.so", "elf", 0755), file("usr/bin", "sh", 0755),
            file("keep", "same", 0600)),
        file("etc/passwd", "root2", 0640), remove("etc/hosts"), file("etc/new", "n", 0600), remove("usr"));

    Layers.Written layer = Layers.walk(lower, upper);

    // one whiteout for the removed tree, none for its children
    assertThat(layer.names()).containsExactly("etc/", "etc/.wh.hosts", "etc/new", "etc/passwd", ".wh.usr");
    Layers.assertWellFormed(layer);
    assertThat(layer.item("etc/passwd").text()).isEqualTo("root2");
    assertThat(layer.item("etc/passwd").entry().mode()).isEqualTo(0640);
    assertThat(layer.item("etc/new").entry().type()).isEqualTo(TarEntry.Type.REGULAR);
    assertThat(layer.item("etc/").entry().mode()).isEqualTo(0755);
    TarEntry whiteout = layer.item(".wh.usr").entry();
    assertThat(whiteout.type()).isEqualTo(TarEntry.Type.REGULAR);
    assertThat(List.of(whiteout.size(), (long) whiteout.mode(), (long) whiteout.uid(), (long) whiteout.gid(),
        whiteout.mtimeNanos())).containsOnly(0L);
  }

  @Test
  void unchangedParentsAreWrittenOnceWithTheUppersAttributes() throws IOException {
    trees(List.of(dir("a", 0750), dir("a/b", 0700), dir("a/b/c", 0711), file("a/b/c/f", "one", 0644),
            file("a/b/c/g", "two", 0644), mtime("a/b/c/f", T), mtime("a/b/c/g", T), mtime("a/b/c", T),
            mtime("a/b", T), mtime("a", T)),
        // same size and second, no nanoseconds: only the bytes tell
        file("a/b/c/f", "uno", 0644), file("a/b/c/g", "dos", 0644), mtime("a/b/c/f", T), mtime("a/b/c/g", T),
        mtime("a/b/c", T));

    Layers.Written layer = Layers.walk(lower, upper);

    assertThat(layer.names()).containsExactly("a/", "a/b/", "a/b/c/", "a/b/c/f", "a/b/c/g");
    assertThat(layer.item("a/").entry().mode()).isEqualTo(0750);
    assertThat(layer.item("a/b/").entry().mode()).isEqualTo(0700);
    assertThat(layer.item("a/b/c/").entry().mode()).isEqualTo(0711);
    assertThat(layer.item("a/b/").entry().mtimeNanos()).isEqualTo(T);
    assertThat(layer.item("a/b/c/f").text()).isEqualTo("uno");
  }

  @Test
  void equalSizeAndNanosecondMtimeAreTrustedLikeContainerd() throws IOException {
    long withNanos = T + 123_456_789L;
    trees(List.of(file("f", "one", 0644), mtime("f", withNanos), file("g", "one", 0644), mtime("g", withNanos)),
        file("f", "uno", 0644), mtime("f", withNanos), file("g", "uno", 0644), mtime("g", withNanos + 1));

    assertThat(Layers.walk(lower, upper).names()).containsExactly("g");
  }

  @Test
  void metadataChangesAreChanges() throws IOException {
    trees(List.of(file("mode", "x", 0644), file("time", "x", 0644), file("xattr", "x", 0644), symlink("link", "a"),
            dir("d", 0755), mtime("mode", T), mtime("time", T), mtime("xattr", T)),
        FsTree.chmod("mode", 04755), mtime("time", T + 1_000_000_000L), xattr("xattr", "user.k", "v"),
        symlink("link", "b"), FsTree.chmod("d", 01777));

    Layers.Written layer = Layers.walk(lower, upper);

    assertThat(layer.names()).containsExactly("d/", "link", "mode", "time", "xattr");
    assertThat(layer.item("d/").entry().mode()).isEqualTo(01777);
    assertThat(layer.item("link").entry().linkName()).isEqualTo("b");
    assertThat(layer.item("mode").entry().mode()).isEqualTo(04755);
    assertThat(layer.item("time").entry().mtimeNanos()).isEqualTo(T + 1_000_000_000L);
    assertThat(layer.item("xattr").entry().xattrs()).containsOnlyKeys("user.k");
  }

  @Test
  void typeChangesReplaceWithoutWhiteouts() throws IOException {
    trees(List.of(file("x", "x", 0644), dir("d/sub", 0755), file("d/c1", "1", 0644), file("d/sub/c2", "2", 0644),
            symlink("s", "t"), file("f2", "f", 0644)),
        remove("x"), dir("x", 0700), file("x/inner", "i", 0644),
        remove("d"), file("d", "now a file", 0644),
        remove("f2"), symlink("f2", "x"));

    Layers.Written layer = Layers.walk(lower, upper);

    assertThat(layer.names()).containsExactly("d", "f2", "x/", "x/inner");
    assertThat(layer.item("d").entry().type()).isEqualTo(TarEntry.Type.REGULAR);
    assertThat(layer.item("f2").entry().type()).isEqualTo(TarEntry.Type.SYMLINK);
    assertThat(layer.item("x/").entry().mode()).isEqualTo(0700);
  }

  @Test
  void newHardLinkGroupIsOneFileAndLinks() throws IOException {
    trees(List.of(dir("bin", 0755)), file("bin/a", "data", 0755), link("bin/b", "bin/a"), link("c", "bin/a"));

    Layers.Written layer = Layers.walk(lower, upper);

    assertThat(layer.names()).containsExactly("bin/", "bin/a", "bin/b", "c");
    Layers.assertWellFormed(layer);
    assertThat(layer.item("bin/a").entry().type()).isEqualTo(TarEntry.Type.REGULAR);
    assertThat(layer.item("bin/a").text()).isEqualTo("data");
    assertThat(layer.item("bin/b").entry().type()).isEqualTo(TarEntry.Type.HARDLINK);
    assertThat(layer.item("bin/b").entry().linkName()).isEqualTo("bin/a");
    assertThat(layer.item("c").entry().linkName()).isEqualTo("bin/a");
  }

  @Test
  void fileChangedInPlaceRewritesItsWholeLinkGroup() throws IOException {
    trees(List.of(file("h1", "old", 0644), link("h2", "h1")));
    Files.write(upper.resolve("h2"), "new!".getBytes(StandardCharsets.UTF_8), StandardOpenOption.TRUNCATE_EXISTING);

    Layers.Written layer = Layers.walk(lower, upper);

    assertThat(layer.names()).containsExactly("h1", "h2");
    assertThat(layer.item("h1").entry().type()).isEqualTo(TarEntry.Type.REGULAR);
    assertThat(layer.item("h1").text()).isEqualTo("new!");
    assertThat(layer.item("h2").entry().type()).isEqualTo(TarEntry.Type.HARDLINK);
    assertThat(layer.item("h2").entry().linkName()).isEqualTo("h1");
  }

  @Test
  void unchangedMembersFollowTheFirstWrittenMemberOfTheirGroup() throws IOException {
    // a/m keeps its content and link count; its partner moved from b/n to z/new
    trees(List.of(dir("a", 0755), dir("b", 0755), file("a/m", "shared", 0644), link("b/n", "a/m")),
        remove("b/n"), dir("z", 0755), link("z/new", "a/m"));
    Posix.get().utimes(upper.resolve("a"), T, T);
    Posix.get().utimes(lower.resolve("a"), T, T);

    Layers.Written layer = Layers.walk(lower, upper);

    // a/m comes after the file it links to, with its parent directory written just before it
    assertThat(layer.names()).containsExactly("b/", "b/.wh.n", "z/", "z/new", "a/", "a/m");
    Layers.assertWellFormed(layer);
    assertThat(layer.item("z/new").text()).isEqualTo("shared");
    assertThat(layer.item("a/m").entry().type()).isEqualTo(TarEntry.Type.HARDLINK);
    assertThat(layer.item("a/m").entry().linkName()).isEqualTo("z/new");
  }

  @Test
  void xattrsAreRawBytes() throws IOException {
    Root.assumeUserXattrs(tmp);
    byte[] binary = {0, 1, (byte) 0xff, '\n', '=', ' '};
    trees(List.of(dir("d", 0755), file("d/f", "x", 0644)),
        xattr("d/f", "user.binary", binary), xattr("d", "user.dir", "on the directory"));

    Layers.Written layer = Layers.walk(lower, upper);

    assertThat(layer.names()).containsExactly("d/", "d/f");
    assertThat(layer.item("d/f").entry().xattrs()).containsOnlyKeys("user.binary");
    assertThat(layer.item("d/f").entry().xattrs().get("user.binary")).isEqualTo(binary);
    assertThat(layer.item("d/").entry().xattrs().get("user.dir"))
        .isEqualTo("on the directory".getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void overlayXattrsNeverReachTheLayer() throws IOException {
    Root.assumeRoot("trusted.* xattrs");
    trees(List.of(file("f", "x", 0644)), xattr("f", "trusted.overlay.origin", "lower"), xattr("f", "trusted.mine", "1"),
        file("g", "new", 0644), xattr("g", "trusted.overlay.impure", "y"));

    Layers.Written layer = Layers.walk(lower, upper);

    // f differs only in the trusted.mine xattr; overlayfs' own are neither compared nor written
    assertThat(layer.names()).containsExactly("f", "g");
    assertThat(layer.item("f").entry().xattrs()).containsOnlyKeys("trusted.mine");
    assertThat(layer.item("g").entry().xattrs()).isEmpty();
  }

  @Test
  void devicesFifosAndSockets() throws IOException {
    Root.assumeRoot("device nodes");
    trees(List.of(dir("dev", 0755)), chardev("dev/null", 1, 3, 0666), FsTree.blockdev("dev/loop0", 7, 0, 0660),
        fifo("dev/fifo", 0600));
    try (ServerSocketChannel socket = ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
      socket.bind(UnixDomainSocketAddress.of(upper.resolve("dev/sock")));

      Layers.Written layer = Layers.walk(lower, upper);

      assertThat(layer.names()).containsExactly("dev/", "dev/fifo", "dev/loop0", "dev/null");
      TarEntry nul = layer.item("dev/null").entry();
      assertThat(nul.type()).isEqualTo(TarEntry.Type.CHAR_DEVICE);
      assertThat(List.of(nul.devMajor(), nul.devMinor(), nul.mode())).containsExactly(1, 3, 0666);
      assertThat(layer.item("dev/loop0").entry().type()).isEqualTo(TarEntry.Type.BLOCK_DEVICE);
      assertThat(layer.item("dev/loop0").entry().devMajor()).isEqualTo(7);
      assertThat(layer.item("dev/fifo").entry().type()).isEqualTo(TarEntry.Type.FIFO);
    }
  }

  @Test
  void ownersAreRecorded() throws IOException {
    Root.assumeRoot("chown");
    trees(List.of(file("f", "x", 0644)), FsTree.chown("f", 1000, 100000), file("g", "y", 0644),
        FsTree.chown("g", 65534, 65534));

    Layers.Written layer = Layers.walk(lower, upper);

    assertThat(layer.names()).containsExactly("f", "g");
    assertThat(List.of(layer.item("f").entry().uid(), layer.item("f").entry().gid())).containsExactly(1000, 100000);
    assertThat(layer.item("g").entry().uid()).isEqualTo(65534);
  }

  @ParameterizedTest
  @EnumSource(Compression.class)
  void digestsDescribeWhatWasWritten(Compression compression) throws IOException {
    trees(List.of(file("a", "a", 0644)), file("b", "b".repeat(100_000), 0644), remove("a"));
    ClosingWatch out = new ClosingWatch();

    DiffResult result = new WalkingComparer().compare(lower, upper, compression, out);

    byte[] blob = out.toByteArray();
    assertThat(out.closed).as("the caller's stream stays open").isFalse();
    assertThat(result.digest()).isEqualTo(Digest.sha256Of(blob));
    assertThat(result.size()).isEqualTo(blob.length);
    byte[] tar = Layers.written(result, blob).uncompressed().readAllBytes();
    assertThat(result.diffId()).isEqualTo(Digest.sha256Of(tar));
    assertThat(result.uncompressedSize()).isEqualTo(tar.length);
    assertThat(result.mediaType()).isEqualTo(compression.ociMediaType());
    assertThat(Layers.read(blob)).extracting(i -> i.entry().name()).containsExactly(".wh.a", "b");
    if (compression == Compression.NONE) {
      assertThat(result.digest()).isEqualTo(result.diffId());
    } else {
      assertThat(blob.length).isLessThan(tar.length);
    }
  }

  @Test
  void sameTreesGiveTheSameLayer() throws IOException {
    RandomTrees.Pair pair = RandomTrees.generate(7, RandomTrees.Options.forCurrentUser());
    List<DiffResult> results = new ArrayList<>();
    for (String run : List.of("one", "two")) {
      // built apart, at different times: only the pinned mtimes make them equal
      Path a = tmp.resolve(run + "/a");
      Path b = tmp.resolve(run + "/b");
      FsTree.apply(a, pair.a());
      FsTree.apply(b, pair.b());
      Layers.pinMtimes(a, T);
      Layers.pinMtimes(b, T);
      results.add(Layers.walk(a, b, Compression.GZIP).result());
      results.add(Layers.walk(a, b, Compression.GZIP).result());
    }

    assertThat(results).allMatch(r -> r.equals(results.get(0)));
  }

  @Test
  void namesSortByBytesNotByUtf16() throws IOException {
    // U+FF21 is one UTF-16 unit above the surrogates of U+1F600, but below it in UTF-8 bytes
    trees(List.of(), file("\uFF21", "x", 0644), file("\uD83D\uDE00", "y", 0644), file("a", "z", 0644),
        file("B", "w", 0644));

    assertThat(Layers.walk(lower, upper).names()).containsExactly("B", "a", "\uFF21", "\uD83D\uDE00");
  }

  @Test
  void randomTreesGiveWellFormedLayers() throws IOException {
    for (long seed = 1; seed <= 20; seed++) {
      RandomTrees.Pair pair = RandomTrees.generate(seed, RandomTrees.Options.forCurrentUser());
      Path a = tmp.resolve(seed + "/a");
      Path b = tmp.resolve(seed + "/b");
      FsTree.apply(a, pair.a());
      Layers.copyTree(a, b);
      FsTree.apply(b, pair.mutations());

      Layers.Written layer = Layers.walk(a, b);

      Layers.assertWellFormed(layer);
      boolean links = layer.items().stream().anyMatch(i -> i.entry().type() == TarEntry.Type.HARDLINK);
      if (!links) {
        // only the links of unchanged files written after their group's first member leave walk order
        Layers.assertWalkOrder(layer.names());
      }
    }
  }

  @Test
  void lowerAndUpperMustBeDirectories() throws IOException {
    Path file = Files.writeString(tmp.resolve("file"), "x");
    ByteArrayOutputStream out = new ByteArrayOutputStream();

    assertThatThrownBy(() -> new WalkingComparer().compare(file, tmp, Compression.NONE, out))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT))
        .hasMessageContaining("lower");
    assertThatThrownBy(() -> new WalkingComparer().compare(tmp, tmp.resolve("missing"), Compression.NONE, out))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT))
        .hasMessageContaining("upper");
  }

  @Test
  void refusesNamesThatReadAsWhiteouts() throws IOException {
    trees(List.of(dir("d", 0755)), file("d/.wh.x", "not a whiteout", 0644));

    assertThatThrownBy(() -> Layers.walk(lower, upper))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT))
        .hasMessageContaining(".wh.x");
  }

  /** Remembers whether close was called. */
  private static final class ClosingWatch extends ByteArrayOutputStream {
    boolean closed;

    @Override
    public void close() {
      closed = true;
    }
  }
}
