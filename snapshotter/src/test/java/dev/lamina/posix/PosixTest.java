package dev.lamina.posix;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PosixTest {
  @TempDir
  Path dir;

  @Test
  void umaskIsReadFromTheStatusFile() throws Exception {
    Path status = dir.resolve("status");
    Files.writeString(status, "Name:\tjava\nUmask:\t0027\nState:\tR (running)\n");
    assertThat(Posix.readUmask(status)).isEqualTo(027);
  }

  @Test
  void anUnreadableOrIncompleteStatusFileGivesNoUmask() throws Exception {
    assertThat(Posix.readUmask(dir.resolve("missing"))).isEqualTo(-1);
    Path old = dir.resolve("old-kernel");
    Files.writeString(old, "Name:\tjava\nState:\tR (running)\n");
    assertThat(Posix.readUmask(old)).isEqualTo(-1);
    Path garbled = dir.resolve("garbled");
    Files.writeString(garbled, "Umask:\tnine\n");
    assertThat(Posix.readUmask(garbled)).isEqualTo(-1);
  }

  @Test
  void thisProcessHasAUmaskToRead() {
    assertThat(Posix.readUmask(Path.of("/proc/self/status"))).isBetween(0, 0777);
  }

  /** Modes the umask leaves alone and modes it would cut into both come out exact. */
  @Test
  void mkdirExactGivesExactlyTheModeAskedFor() throws Exception {
    Posix posix = Posix.get();
    for (int mode : new int[] {0700, 0711, 0755, 0775, 0777, 01777, 02755, 0}) {
      Path d = dir.resolve("d" + Integer.toOctalString(mode));
      posix.mkdirExact(d, mode);
      assertThat(posix.lstat(d).permissions()).as(Integer.toOctalString(mode)).isEqualTo(mode);
    }
  }

  @Test
  void aSetGroupIdBitInheritedFromTheParentStays() throws Exception {
    int umask = Posix.readUmask(Path.of("/proc/self/status"));
    assumeTrue(umask >= 0 && (umask & 0755) == 0, "a umask that leaves 0755 alone (here " + Integer.toOctalString(umask) + ")");
    Posix posix = Posix.get();
    Path parent = dir.resolve("shared");
    posix.mkdirExact(parent, 02775);
    Path child = parent.resolve("child");
    posix.mkdirExact(child, 0755);
    assertThat(posix.lstat(child).permissions() & 0777).isEqualTo(0755);
    assertThat(posix.lstat(child).permissions() & 02000).isEqualTo(02000);
  }
}
