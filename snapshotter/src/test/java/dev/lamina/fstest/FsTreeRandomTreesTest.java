package dev.lamina.fstest;

import static dev.lamina.fstest.TreeAssert.assertTreesEqual;
import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.TreeSnapshot.Entry;
import dev.lamina.fstest.TreeSnapshot.Type;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FsTreeRandomTreesTest {
  private static final int SEEDS = 40;
  /** Fewer for tests that build trees: creating inodes is slow on some CI disks. */
  private static final int BUILT_SEEDS = 16;

  @TempDir Path tmp;
  private RandomTrees.Options options;

  @BeforeEach
  void options() throws IOException {
    options = new RandomTrees.Options(Root.isRoot(), Root.supportsUserXattrs(tmp));
  }

  @Test
  void sameSeedGivesEqualOps() {
    for (long seed = 0; seed < SEEDS; seed++) {
      assertThat(RandomTrees.generate(seed, options)).isEqualTo(RandomTrees.generate(seed, options));
    }
    assertThat(RandomTrees.generate(1, options).a()).isNotEqualTo(RandomTrees.generate(2, options).a());
  }

  @Test
  void rootOptionDecidesPrivilegedOps() {
    for (long seed = 0; seed < SEEDS; seed++) {
      assertThat(RandomTrees.generate(seed, new RandomTrees.Options(false)).b())
          .as("seed %d", seed)
          .noneMatch(op -> op instanceof FsOp.Chown || op instanceof FsOp.Device);
    }
  }

  /** Mutations applied onto a built {@code a} give the same tree as {@code b} built from scratch. */
  @Test
  void mutationsOnACopyOfAGiveB() throws IOException {
    for (long seed = 0; seed < BUILT_SEEDS; seed++) {
      RandomTrees.Pair pair = RandomTrees.generate(seed, options);
      Path a = Files.createTempDirectory(tmp, "a");
      Path a2 = Files.createTempDirectory(tmp, "a2");
      Path b = Files.createTempDirectory(tmp, "b");
      FsTree.apply(a, pair.a());
      FsTree.apply(a2, pair.a());
      FsTree.apply(b, pair.b());
      assertTreesEqual(a, a2);

      FsTree.apply(a2, pair.mutations());
      assertTreesEqual(b, a2);

      TreeSnapshot before = TreeSnapshot.of(a);
      TreeSnapshot after = TreeSnapshot.of(b);
      assertThat(before.differences(after)).as("%s changes something", pair).isNotEmpty();
      assertThat(before.entries().size()).as("%s size of a", pair).isBetween(RandomTrees.MIN_ENTRIES, RandomTrees.MAX_ENTRIES);
      assertThat(after.entries().size()).as("%s size of b", pair).isBetween(RandomTrees.MIN_ENTRIES, RandomTrees.MAX_ENTRIES);
      FsTree.removeTree(a);
      FsTree.removeTree(a2);
      FsTree.removeTree(b);
    }
  }

  /** Over a handful of seeds, every kind of change the round-trip tests rely on shows up. */
  @Test
  void mutationsCoverEveryKindOfChange() throws IOException {
    Set<String> seen = new HashSet<>();
    for (long seed = 0; seed < BUILT_SEEDS; seed++) {
      RandomTrees.Pair pair = RandomTrees.generate(seed, options);
      Path a = Files.createTempDirectory(tmp, "a");
      Path b = Files.createTempDirectory(tmp, "b");
      FsTree.apply(a, pair.a());
      FsTree.apply(b, pair.b());
      classify(TreeSnapshot.of(a).entries(), TreeSnapshot.of(b).entries(), seen);
      FsTree.removeTree(a);
      FsTree.removeTree(b);
    }
    Set<String> want = new HashSet<>(Set.of(
        "add file", "add dir", "content", "mode", "special bit", "delete file", "delete dir",
        "file to dir", "dir to file", "symlink target", "new hard link", "add xattr", "change xattr", "remove xattr",
        "add fifo"));
    if (!options.xattrs()) {
      want.removeIf(k -> k.contains("xattr"));
    }
    if (options.root()) {
      want.addAll(Set.of("owner", "add chardev"));
    }
    assertThat(seen).containsAll(want);
  }

  private static void classify(Map<String, Entry> a, Map<String, Entry> b, Set<String> seen) {
    for (var e : b.entrySet()) {
      Entry was = a.get(e.getKey());
      Entry now = e.getValue();
      if (was == null) {
        seen.add("add " + now.type());
        if (now.hardLinkGroup() != null) {
          seen.add("new hard link");
        }
        continue;
      }
      if (was.type() != now.type()) {
        seen.add(was.type() + " to " + now.type());
        continue;
      }
      if (!Objects.equals(was.sha256(), now.sha256())) {
        seen.add("content");
      }
      if (was.permissions() != now.permissions()) {
        seen.add(((was.permissions() ^ now.permissions()) & 07000) != 0 ? "special bit" : "mode");
      }
      if (!Objects.equals(was.uid(), now.uid()) || !Objects.equals(was.gid(), now.gid())) {
        seen.add("owner");
      }
      if (!Objects.equals(was.linkTarget(), now.linkTarget())) {
        seen.add("symlink target");
      }
      for (String name : was.xattrs().keySet()) {
        String value = now.xattrs().get(name);
        if (value == null) {
          seen.add("remove xattr");
        } else if (!value.equals(was.xattrs().get(name))) {
          seen.add("change xattr");
        }
      }
      if (!was.xattrs().keySet().containsAll(now.xattrs().keySet())) {
        seen.add("add xattr");
      }
    }
    for (var e : a.entrySet()) {
      if (!b.containsKey(e.getKey())) {
        seen.add(e.getValue().type() == Type.DIR ? "delete dir" : "delete file");
      }
    }
  }

  @Test
  void typesInATreeMatchTheOptions() {
    Set<Class<?>> kinds = new HashSet<>();
    for (long seed = 0; seed < SEEDS; seed++) {
      RandomTrees.generate(seed, options).b().forEach(op -> kinds.add(op.getClass()));
    }
    assertThat(kinds).contains(FsOp.Dir.class, FsOp.File.class, FsOp.Symlink.class, FsOp.Link.class, FsOp.Remove.class, FsOp.Chmod.class, FsOp.Fifo.class);
    if (options.root()) {
      assertThat(kinds).contains(FsOp.Chown.class, FsOp.Device.class);
    }
    if (options.xattrs()) {
      assertThat(kinds).contains(FsOp.Xattr.class, FsOp.RemoveXattr.class);
    }
  }

  @Test
  void namesIncludeTheAwkwardOnes() {
    Set<String> names = new HashSet<>();
    for (long seed = 0; seed < SEEDS; seed++) {
      RandomTrees.generate(seed, options).b().forEach(op -> names.addAll(List.of(op.path().split("/"))));
    }
    assertThat(names).anyMatch(n -> n.contains(" "));
    assertThat(names).anyMatch(n -> n.startsWith("."));
    if (RandomTrees.unicodeNames()) {
      assertThat(names).anyMatch(n -> n.chars().anyMatch(c -> c > 0x7f));
    }
    assertThat(names).anyMatch(n -> n.length() > 100);
  }
}
