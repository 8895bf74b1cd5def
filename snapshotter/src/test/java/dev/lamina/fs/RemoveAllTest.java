package dev.lamina.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import dev.lamina.posix.Posix;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RemoveAllTest {
  @TempDir Path tmp;

  @Test
  void removesTreesWithoutFollowingSymlinks() throws Exception {
    Path outside = tmp.resolve("outside");
    FsTree.apply(outside, FsTree.file("keep", "keep me", 0644));
    Path tree = tmp.resolve("tree");
    FsTree.apply(tree,
        FsTree.file("a/b/c/file", "x", 0644),
        FsTree.symlink("a/link-out", outside.toString()),
        FsTree.symlink("a/link-file", outside.resolve("keep").toString()),
        FsTree.dir("ro/sub", 0555),
        FsTree.file("ro/f", "y", 0444),
        FsTree.dir("ro", 0555),
        FsTree.fifo("fifo", 0600));

    RemoveAll.remove(tree);

    assertThat(tree).doesNotExist();
    assertThat(outside.resolve("keep")).hasContent("keep me");
    RemoveAll.remove(tree); // nothing there: fine
  }

  @Test
  void removesDeepTrees() throws Exception {
    Path tree = tmp.resolve("deep");
    Path p = tree;
    for (int i = 0; i < 400; i++) {
      p = p.resolve("d");
    }
    Files.createDirectories(p);
    Files.writeString(p.resolve("leaf"), "x");
    RemoveAll.remove(tree);
    assertThat(tree).doesNotExist();
  }

  @Test
  void refusesToDeleteWhatIsMounted() throws Exception {
    Root.assumeRoot("bind mounts");
    Path data = tmp.resolve("data");
    FsTree.apply(data, FsTree.file("precious", "do not delete", 0644));
    Path tree = tmp.resolve("tree");
    Files.createDirectories(tree.resolve("sub/mnt"));
    Posix.get().mount(data.toString(), tree.resolve("sub/mnt"), "bind", 4096, null);
    try {
      assertThatThrownBy(() -> RemoveAll.remove(tree))
          .isInstanceOf(LaminaException.class)
          .satisfies(e -> assertThat(((LaminaException) e).kind()).isEqualTo(ErrorKind.FAILED_PRECONDITION));
    } finally {
      Posix.get().unmount(tree.resolve("sub/mnt"), 0);
    }
    assertThat(data.resolve("precious")).hasContent("do not delete");
    assertThat(tree.resolve("sub/mnt")).exists();
  }
}
