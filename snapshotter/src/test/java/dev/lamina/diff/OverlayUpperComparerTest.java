package dev.lamina.diff;

import static dev.lamina.fstest.FsTree.chmod;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.symlink;
import static dev.lamina.fstest.FsTree.xattr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.TarApplier;
import dev.lamina.archive.TarEntry;
import dev.lamina.compression.Compression;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OverlayUpperComparerTest {
  private static final TreeSnapshot.Options TREES = TreeSnapshot.Options.DEFAULT.withMtimes();

  @TempDir Path tmp;

  private static void assumeRoot() {
    assumeTrue(Posix.get().isRoot(), "needs root for overlay mounts and whiteout devices");
  }

  @Test
  void upperDirOfAnOverlayMount() throws IOException {
    assumeRoot();
    try (OverlayMount overlay = new OverlayMount(tmp)) {
      FsTree.apply(overlay.lower,
          dir("etc", 0755), file("etc/passwd", "root", 0644), file("etc/hosts", "h", 0644),
          dir("usr/lib", 0755), file("usr/lib/a.so", "a", 0755), file("usr/lib/b.so", "b", 0755),
          dir("var/cache/x", 0755), file("var/cache/x/y", "y", 0644), file("var/cache/z", "z", 0644),
          file("keep", "k", 0644), file("mode", "m", 0644));
      overlay.mount();
      FsTree.apply(overlay.merged,
          file("etc/new", "n", 0600), file("etc/passwd", "root2", 0644), remove("etc/hosts"),
          remove("usr/lib"),
          // rm -rf then mkdir: overlayfs makes the new directory opaque
          remove("var/cache"), dir("var/cache", 0700), file("var/cache/new", "fresh", 0644),
          chmod("mode", 0600));
      TreeSnapshot merged = TreeSnapshot.of(overlay.merged, TREES);
      Layers.Written walked = Layers.walk(overlay.lower, overlay.merged);
      overlay.unmount();

      Layers.Written layer = Layers.overlay(overlay.upper);

      assertThat(layer.names()).containsExactly(
          "etc/", "etc/.wh.hosts", "etc/new", "etc/passwd",
          "mode",
          "usr/", "usr/.wh.lib",
          "var/", "var/cache/", "var/cache/.wh..wh..opq", "var/cache/new");
      Layers.assertWellFormed(layer);
      Layers.assertWalkOrder(layer.names());
      for (String marker : List.of("etc/.wh.hosts", "usr/.wh.lib", "var/cache/.wh..wh..opq")) {
        TarEntry e = layer.item(marker).entry();
        assertThat(e.type()).isEqualTo(TarEntry.Type.REGULAR);
        assertThat(List.of(e.size(), (long) e.mode(), (long) e.uid(), (long) e.gid(), e.mtimeNanos())).containsOnly(0L);
      }
      assertThat(layer.item("mode").entry().mode()).isEqualTo(0600);
      assertThat(layer.item("var/cache/").entry().mode()).isEqualTo(0700);
      assertThat(layer.item("etc/passwd").text()).isEqualTo("root2");

      // the walk says the same with per-child whiteouts instead of the opaque marker
      assertThat(walked.names()).contains("var/cache/", "var/cache/.wh.x", "var/cache/.wh.z", "var/cache/new")
          .doesNotContain("var/cache/.wh..wh..opq");
      TreeAssert.assertSnapshotsEqual(merged, applied(overlay.lower, layer, "from-upper"));
      TreeAssert.assertSnapshotsEqual(merged, applied(overlay.lower, walked, "from-walk"));
    }
  }

  @Test
  void hardLinksAndSymlinksInTheUpperDir() throws IOException {
    assumeRoot();
    try (OverlayMount overlay = new OverlayMount(tmp)) {
      FsTree.apply(overlay.lower, file("bin/tool", "v1", 0755), link("bin/tool2", "bin/tool"), symlink("l", "bin"));
      overlay.mount();
      FsTree.apply(overlay.merged, link("bin/tool3", "bin/tool"), symlink("l", "usr/bin"), file("new", "n", 0644),
          link("new2", "new"));
      TreeSnapshot merged = TreeSnapshot.of(overlay.merged, TREES);
      overlay.unmount();

      Layers.Written layer = Layers.overlay(overlay.upper);

      // linking copied bin/tool up; bin/tool2 stays in the lower layer, untouched
      assertThat(layer.names()).containsExactly("bin/", "bin/tool", "bin/tool3", "l", "new", "new2");
      assertThat(layer.item("bin/tool3").entry().type()).isEqualTo(TarEntry.Type.HARDLINK);
      assertThat(layer.item("bin/tool3").entry().linkName()).isEqualTo("bin/tool");
      assertThat(layer.item("new2").entry().linkName()).isEqualTo("new");
      assertThat(layer.item("l").entry().linkName()).isEqualTo("usr/bin");
      TreeAssert.assertSnapshotsEqual(merged, applied(overlay.lower, layer, "applied"));
    }
  }

  @Test
  void handMadeUpperDir() throws IOException {
    assumeRoot();
    Path upper = tmp.resolve("upper");
    FsTree.apply(upper, dir("a", 0755), file("a/f", "f", 0644), dir("o", 0711), file("o/g", "g", 0644),
        xattr("o", "trusted.overlay.opaque", "y"), xattr("a", "trusted.overlay.opaque", "x"),
        xattr("a/f", "user.keep", "1"), xattr("a/f", "trusted.overlay.origin", "something"));
    Posix.get().mknod(upper.resolve("a/gone"), FileStat.S_IFCHR, 0, 0);
    Posix.get().mknod(upper.resolve("tty"), FileStat.S_IFCHR | 0620, 5, 0);

    Layers.Written layer = Layers.overlay(upper);

    assertThat(layer.names()).containsExactly("a/", "a/f", "a/.wh.gone", "o/", "o/.wh..wh..opq", "o/g", "tty");
    assertThat(layer.item("a/f").entry().xattrs()).containsOnlyKeys("user.keep");
    assertThat(layer.item("a/").entry().xattrs()).isEmpty();
    assertThat(layer.item("tty").entry().type()).isEqualTo(TarEntry.Type.CHAR_DEVICE);
    assertThat(layer.item("tty").entry().devMajor()).isEqualTo(5);
  }

  @Test
  void opaqueUpperRootHidesEveryLowerLayer() throws IOException {
    assumeRoot();
    Path upper = tmp.resolve("upper");
    FsTree.apply(upper, file("f", "f", 0644), xattr(".", "trusted.overlay.opaque", "y"));

    assertThat(Layers.overlay(upper).names()).containsExactly(".wh..wh..opq", "f");
  }

  @Test
  void refusesUpperDirsWhoseDataLivesBelow() throws IOException {
    assumeRoot();
    for (String xattr : List.of("trusted.overlay.metacopy", "trusted.overlay.redirect")) {
      Path upper = tmp.resolve(xattr);
      FsTree.apply(upper, dir("d", 0755), file("d/f", "", 0644), xattr("d/f", xattr, "/x"));

      assertThatThrownBy(() -> Layers.overlay(upper))
          .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.FAILED_PRECONDITION))
          .hasMessageContaining("d/f");
    }
  }

  @Test
  void plainDirectoryIsWrittenWholeAndDeterministically() throws IOException {
    Path upper = tmp.resolve("upper");
    FsTree.apply(upper, dir("b", 0755), file("b/x", "x".repeat(3000), 0644), file("a", "a", 0600), symlink("c", "b/x"));
    ByteArrayOutputStream first = new ByteArrayOutputStream();
    ByteArrayOutputStream second = new ByteArrayOutputStream();

    DiffResult one = new OverlayUpperComparer().compare(upper, Compression.ZSTD, first);
    // the Comparer form ignores lower: nothing there is read
    DiffResult two = new OverlayUpperComparer().compare(tmp.resolve("no such dir"), upper, Compression.ZSTD, second);

    assertThat(one).isEqualTo(two);
    assertThat(first.toByteArray()).isEqualTo(second.toByteArray());
    assertThat(one.mediaType()).isEqualTo("application/vnd.oci.image.layer.v1.tar+zstd");
    assertThat(Layers.read(first.toByteArray())).extracting(i -> i.entry().name())
        .containsExactly("a", "b/", "b/x", "c");
  }

  /** Applies the layer onto a copy of {@code lower} and snapshots the result. */
  private TreeSnapshot applied(Path lower, Layers.Written layer, String name) throws IOException {
    Path target = tmp.resolve(name);
    Layers.copyTree(lower, target);
    try (InputStream in = layer.uncompressed()) {
      new TarApplier(ApplyOptions.defaults()).apply(in, target);
    }
    return TreeSnapshot.of(target, TREES);
  }
}
