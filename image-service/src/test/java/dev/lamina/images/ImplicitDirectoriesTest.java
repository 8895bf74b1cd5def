package dev.lamina.images;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.Root;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lookup through lower layers overlayfs does, and what the fix makes of implicit directories. */
class ImplicitDirectoriesTest {
  private static final Posix POSIX = Posix.get();

  @TempDir Path tmp;
  Path upper;
  Path newer;
  Path older;

  @BeforeEach
  void layers() throws Exception {
    Root.assumeRoot("owners, whiteout devices and trusted.overlay.opaque");
    upper = Files.createDirectory(tmp.resolve("upper"));
    newer = Files.createDirectory(tmp.resolve("newer"));
    older = Files.createDirectory(tmp.resolve("older"));
  }

  private static void dir(Path p, int mode) throws Exception {
    Files.createDirectories(p);
    POSIX.chmod(p, mode);
  }

  private static void whiteout(Path p) throws Exception {
    Files.createDirectories(p.getParent());
    POSIX.mknod(p, FileStat.S_IFCHR, 0, 0);
  }

  private static void opaque(Path p) throws Exception {
    POSIX.setxattr(p, "trusted.overlay.opaque", new byte[] {'y'});
  }

  private ImplicitDirectories.Result fix(String... implicit) throws Exception {
    return new ImplicitDirectories(upper, List.of(newer, older)).fix(List.of(implicit));
  }

  private static FileStat stat(Path p) throws Exception {
    return POSIX.lstat(p);
  }

  @Test
  void takesModeOwnerAndXattrsOfTheNewestLowerDirectory() throws Exception {
    dir(older.resolve("tmp"), 01777);
    dir(newer.resolve("tmp"), 0770);
    dir(older.resolve("own"), 0750);
    POSIX.lchown(older.resolve("own"), 1000, 1001);
    POSIX.setxattr(older.resolve("own"), "user.k", "v".getBytes(StandardCharsets.UTF_8));
    POSIX.setxattr(older.resolve("own"), "trusted.overlay.origin", new byte[] {1});
    dir(upper.resolve("tmp"), 0755);
    Files.writeString(upper.resolve("tmp/f"), "f");
    dir(upper.resolve("own"), 0755);
    Files.writeString(upper.resolve("own/f"), "f");

    assertThat(fix("tmp", "own")).isEqualTo(new ImplicitDirectories.Result(2, 0));

    assertThat(stat(upper.resolve("tmp")).permissions()).isEqualTo(0770);
    FileStat own = stat(upper.resolve("own"));
    assertThat(own.permissions()).isEqualTo(0750);
    assertThat(own.uid()).isEqualTo(1000);
    assertThat(own.gid()).isEqualTo(1001);
    assertThat(POSIX.getxattr(upper.resolve("own"), "user.k")).hasValueSatisfying(
        v -> assertThat(new String(v, StandardCharsets.UTF_8)).isEqualTo("v"));
    assertThat(POSIX.getxattr(upper.resolve("own"), "trusted.overlay.origin")).isEmpty();
  }

  @Test
  void whiteoutsFilesOpaqueDirsAndSymlinksHideOlderLayers() throws Exception {
    dir(older.resolve("gone"), 0700);
    whiteout(newer.resolve("gone"));
    dir(older.resolve("o/sub"), 0700);
    dir(newer.resolve("o"), 0755);
    opaque(newer.resolve("o"));
    Files.createSymbolicLink(older.resolve("s"), Path.of("/etc"));
    dir(older.resolve("p/q"), 0700);
    for (String d : List.of("gone", "o/sub", "s/ssl", "p/q")) {
      dir(upper.resolve(d), 0755);
      Files.writeString(upper.resolve(d).resolve("f"), "f");
    }
    opaque(upper.resolve("p"));

    assertThat(fix("gone", "o", "o/sub", "s", "s/ssl", "p/q")).isEqualTo(new ImplicitDirectories.Result(1, 0));

    for (String d : List.of("gone", "o/sub", "s/ssl", "p/q")) {
      assertThat(stat(upper.resolve(d)).permissions()).as(d).isEqualTo(0755);
    }
    assertThat(stat(upper.resolve("o")).permissions()).isEqualTo(0755); // from newer
  }

  @Test
  void phantomDirectoriesHoldingOnlyWhiteoutsAreRemoved() throws Exception {
    whiteout(upper.resolve("ghost/a/x"));
    whiteout(upper.resolve("ghost/y"));
    whiteout(upper.resolve("kept/z"));
    dir(older.resolve("kept"), 0711);
    whiteout(upper.resolve("mixed/w"));
    Files.writeString(upper.resolve("mixed/real"), "r");
    dir(upper.resolve("opq"), 0755);
    opaque(upper.resolve("opq"));
    whiteout(upper.resolve("opq/w"));

    assertThat(fix("ghost", "ghost/a", "kept", "mixed", "opq")).isEqualTo(new ImplicitDirectories.Result(1, 2));

    assertThat(upper.resolve("ghost")).doesNotExist();
    assertThat(stat(upper.resolve("kept")).permissions()).isEqualTo(0711);
    assertThat(stat(upper.resolve("kept/z")).isOverlayWhiteout()).isTrue();
    assertThat(upper.resolve("mixed/real")).exists();
    assertThat(stat(upper.resolve("mixed/w")).isOverlayWhiteout()).isTrue();
    assertThat(stat(upper.resolve("opq/w")).isOverlayWhiteout()).isTrue();
  }
}
