package dev.lamina.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TempMountsTest {
  @TempDir Path tmp;
  Path parent;
  Path src;

  @BeforeEach
  void setUp() throws IOException {
    Root.assumeRoot("mount(2)");
    parent = Files.createDirectory(tmp.resolve("mounts"));
    src = tmp.resolve("src");
    FsTree.apply(src, FsTree.file("data", "precious", 0644));
  }

  @Test
  void mountsRunsUnmountsAndRemovesTheDir() throws Exception {
    AtomicReference<Path> seen = new AtomicReference<>();
    String content = TempMounts.withTempMount(parent, List.of(Mount.of("bind", src.toString(), List.of("ro", "rbind"))), root -> {
      seen.set(root);
      assertThat(MountInfo.isMountPoint(root)).isTrue();
      return Files.readString(root.resolve("data"));
    });
    assertThat(content).isEqualTo("precious");
    assertThat(seen.get()).doesNotExist();
    assertThat(src.resolve("data")).hasContent("precious");
  }

  @Test
  void unmountsWhenTheFunctionFails() throws Exception {
    AtomicReference<Path> seen = new AtomicReference<>();
    assertThatThrownBy(() -> TempMounts.withTempMount(parent, List.of(Mount.of("bind", src.toString(), List.of("rw", "rbind"))), root -> {
      seen.set(root);
      throw new IOException("boom");
    })).hasMessage("boom");
    assertThat(MountInfo.mountsAtOrUnder(seen.get())).isEmpty();
    assertThat(seen.get()).doesNotExist();
    assertThat(src.resolve("data")).hasContent("precious");
  }

  @Test
  void nestedMountsMadeByTheFunctionAreUnmountedToo() throws Exception {
    Path other = tmp.resolve("other");
    FsTree.apply(other, FsTree.file("x", "x", 0644));
    FsTree.apply(src, FsTree.dir("sub", 0755));
    TempMounts.withTempMount(parent, List.of(Mount.of("bind", src.toString(), List.of("rw", "rbind"))), root -> {
      Mounter.mount(Mount.of("bind", other.toString(), List.of("rbind")), root.resolve("sub"));
      return null;
    });
    try (Stream<Path> s = Files.list(parent)) {
      assertThat(s).isEmpty();
    }
    assertThat(other.resolve("x")).exists();
    assertThat(src.resolve("data")).hasContent("precious");
  }

  @Test
  void aFailedMountLeavesNoDirectory() throws Exception {
    assertThatThrownBy(() -> TempMounts.withTempMount(parent, List.of(Mount.of("bind", tmp.resolve("missing").toString(), List.of("rbind"))), root -> null))
        .isInstanceOf(IOException.class);
    try (Stream<Path> s = Files.list(parent)) {
      assertThat(s).isEmpty();
    }
  }
}
