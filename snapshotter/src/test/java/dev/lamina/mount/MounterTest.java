package dev.lamina.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MounterTest {
  @TempDir Path tmp;

  @BeforeEach
  void needRoot() {
    Root.assumeRoot("mount(2)");
  }

  @Test
  void bindReadWriteAndReadOnly() throws Exception {
    Path src = tmp.resolve("src");
    FsTree.apply(src, FsTree.file("a", "a", 0644));
    Path target = Files.createDirectory(tmp.resolve("target"));

    Mounter.mountAll(List.of(Mount.of("bind", src.toString(), List.of("rw", "rbind"))), target);
    try {
      assertThat(MountInfo.isMountPoint(target.toRealPath())).isTrue();
      Files.writeString(target.resolve("b"), "b");
    } finally {
      Mounter.unmountAll(target);
    }
    assertThat(src.resolve("b")).hasContent("b");
    assertThat(MountInfo.isMountPoint(target.toRealPath())).isFalse();

    Mounter.mountAll(List.of(Mount.of("bind", src.toString(), List.of("ro", "rbind"))), target);
    try {
      assertThat(target.resolve("a")).hasContent("a");
      assertThatThrownBy(() -> Files.writeString(target.resolve("c"), "c")).isInstanceOf(IOException.class)
          .hasMessageContaining("Read-only");
    } finally {
      Mounter.unmount(target);
    }
    assertThat(src.resolve("c")).doesNotExist();
  }

  @Test
  void overlayWithUpperAndLowers() throws Exception {
    Path l1 = tmp.resolve("l1");
    Path l2 = tmp.resolve("l2");
    FsTree.apply(l1, FsTree.file("f", "old", 0644), FsTree.file("only1", "1", 0644));
    FsTree.apply(l2, FsTree.file("f", "new", 0644));
    Path upper = Files.createDirectory(tmp.resolve("upper"));
    Path work = Files.createDirectory(tmp.resolve("work"));
    Path target = Files.createDirectory(tmp.resolve("merged"));
    Mount m = Mount.of("overlay", "overlay", List.of("workdir=" + work, "upperdir=" + upper, "lowerdir=" + l2 + ":" + l1));
    TempMounts.withTempMount(tmp, List.of(m), root -> {
      assertThat(root.resolve("f")).hasContent("new");
      assertThat(root.resolve("only1")).hasContent("1");
      Files.delete(root.resolve("only1"));
      return null;
    });
    assertThat(l1.resolve("only1")).exists();
    assertThat(dev.lamina.posix.Posix.get().lstat(upper.resolve("only1")).isOverlayWhiteout()).isTrue();
    assertThat(target).isEmptyDirectory();
  }

  @Test
  void lowerdirListsLongerThanAPageStillMount() throws Exception {
    // long directory names so that 140 absolute paths need far more than 4096 bytes
    Path base = Files.createDirectories(tmp.resolve("a-rather-long-directory-name-to-make-paths-long/snapshots"));
    List<String> lowers = new ArrayList<>();
    for (int i = 0; i < 140; i++) {
      Path dir = base.resolve(Integer.toString(i)).resolve("fs");
      FsTree.apply(dir, FsTree.file("layer-" + i, Integer.toString(i), 0644), FsTree.file("top", Integer.toString(i), 0644));
      lowers.add(0, dir.toString());
    }
    String lowerdir = "lowerdir=" + String.join(":", lowers);
    assertThat(lowerdir.length()).isGreaterThan(Mounter.PAGE_SIZE);
    Mount m = Mount.of("overlay", "overlay", List.of(lowerdir));

    TempMounts.withTempMount(tmp, List.of(m), root -> {
      assertThat(root.resolve("top")).hasContent("139");
      for (int i = 0; i < 140; i++) {
        assertThat(root.resolve("layer-" + i)).hasContent(Integer.toString(i));
      }
      return null;
    });
  }

  @Test
  void failedMountLeavesNothingMounted() throws Exception {
    Path target = Files.createDirectory(tmp.resolve("t"));
    Path src = Files.createDirectory(tmp.resolve("src"));
    List<Mount> mounts = List.of(
        Mount.of("bind", src.toString(), List.of("rbind")),
        Mount.of("overlay", "overlay", List.of("lowerdir=" + tmp.resolve("missing"))));
    assertThatThrownBy(() -> Mounter.mountAll(mounts, target)).isInstanceOf(IOException.class);
    assertThat(MountInfo.mountsAtOrUnder(target.toRealPath())).isEmpty();
  }

  @Test
  void mountTargetsMayNotLeaveTheRoot() throws Exception {
    assertThatThrownBy(() -> Mounter.resolveTarget(tmp, "../x")).isInstanceOf(dev.lamina.errdefs.LaminaException.class);
    assertThatThrownBy(() -> Mounter.resolveTarget(tmp, "/x")).isInstanceOf(dev.lamina.errdefs.LaminaException.class);
    assertThat(Mounter.resolveTarget(tmp, "a/b")).isEqualTo(tmp.resolve("a/b"));
  }
}
