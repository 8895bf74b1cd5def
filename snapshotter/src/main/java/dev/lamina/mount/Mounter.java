package dev.lamina.mount;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.Errno;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Performs {@link Mount}s: the only place lamina mounts and unmounts (containerd's
 * {@code mount.All} and {@code UnmountAll}).
 *
 * <ul>
 *   <li>{@code bind}/{@code rbind}: MS_BIND (+MS_REC), then, when {@code ro}, a remount
 *       MS_BIND|MS_REMOUNT|MS_RDONLY, because the first call ignores MS_RDONLY;
 *   <li>anything else ({@code overlay}): one mount(2) with the non-flag options joined by commas.
 *       When the options come near a page (4096 bytes, what the kernel copies), the lowerdirs
 *       become relative to their common parent and {@code /bin/mount} runs with that parent as
 *       its working directory: a JVM cannot safely chdir itself.
 * </ul>
 */
public final class Mounter {
  /** What mount(2) copies of the data argument. */
  static final int PAGE_SIZE = 4096;
  /** containerd compacts lowerdirs from this size on. */
  static final int COMPACT_AT = PAGE_SIZE - 512;

  private static final int MNT_DETACH = 2;
  private static final int UMOUNT_NOFOLLOW = 8;
  private static final int BUSY_RETRIES = 50;
  private static final long BUSY_SLEEP_MILLIS = 10;
  private static final List<Path> MOUNT_BINARIES = List.of(Path.of("/bin/mount"), Path.of("/usr/bin/mount"), Path.of("/sbin/mount"));

  private Mounter() {}

  /**
   * Mounts each of {@code mounts} in order at {@code target} (or at its {@link Mount#target()}
   * below {@code target}). When one fails, those already mounted are unmounted again.
   */
  public static void mountAll(List<Mount> mounts, Path target) throws IOException {
    List<Path> done = new ArrayList<>();
    try {
      for (Mount m : mounts) {
        Path at = resolveTarget(target, m.target());
        mount(m, at);
        done.add(at);
      }
    } catch (IOException | RuntimeException e) {
      for (int i = done.size() - 1; i >= 0; i--) {
        try {
          unmount(done.get(i));
        } catch (IOException u) {
          e.addSuppressed(u);
        }
      }
      throw e;
    }
  }

  /** Mounts one {@link Mount} at {@code target}. */
  public static void mount(Mount m, Path target) throws IOException {
    Posix posix = Posix.get();
    List<String> options = m.options();
    if (m.type().equals("overlay") && Lowerdirs.optionsSize(options) >= COMPACT_AT) {
      Lowerdirs compact = Lowerdirs.compact(options);
      if (compact.chdir() != null) {
        mountWithHelper(m, compact, target);
        return;
      }
    }
    MountOptions opt = MountOptions.parse(options);
    String data = opt.dataString();
    if (data.length() >= PAGE_SIZE) {
      throw LaminaException.invalidArgument("mount options of " + m.type() + " at " + target + " are too long (" + data.length() + " bytes)");
    }
    long flags = opt.flags() & ~MountOptions.PROPAGATION;
    if (!opt.has(MountOptions.MS_REMOUNT) || !data.isEmpty()) {
      posix.mount(m.source(), target, m.type(), flags, data.isEmpty() ? null : data);
    }
    if ((opt.flags() & MountOptions.PROPAGATION) != 0) {
      long pflags = opt.flags() & (MountOptions.PROPAGATION | MountOptions.MS_REC | MountOptions.MS_SILENT);
      posix.mount("", target, null, pflags, null);
    }
    long bindRo = MountOptions.MS_BIND | MountOptions.MS_RDONLY;
    if ((flags & bindRo) == bindRo) {
      try {
        posix.mount("", target, null, flags | MountOptions.MS_REMOUNT, null);
      } catch (IOException e) {
        // a writable bind must not stay behind when read-only was asked for
        try {
          unmount(target);
        } catch (IOException u) {
          e.addSuppressed(u);
        }
        throw e;
      }
    }
  }

  private static void mountWithHelper(Mount m, Lowerdirs compact, Path target) throws IOException {
    String joined = String.join(",", compact.options());
    if (joined.length() >= PAGE_SIZE) {
      throw LaminaException.invalidArgument("overlay options at " + target + " are too long even with relative lowerdirs (" + joined.length() + " bytes)");
    }
    Path binary = MOUNT_BINARIES.stream().filter(Files::isExecutable).findFirst()
        .orElseThrow(() -> new IOException("no mount binary in " + MOUNT_BINARIES + " for long lowerdir lists"));
    // -n: no mtab; -i: no /sbin/mount.<type> helper; util-linux passes the options through
    ProcessBuilder pb = new ProcessBuilder(binary.toString(), "-n", "-i", "-t", m.type(), "-o", joined, m.source(), target.toString())
        .directory(Path.of(compact.chdir()).toFile())
        .redirectErrorStream(true);
    Process p = pb.start();
    p.getOutputStream().close();
    String output = readAll(p.getInputStream());
    int rc;
    try {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(binary + " did not finish mounting " + target + " within 60s");
      }
      rc = p.exitValue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new IOException("interrupted while mounting " + target, e);
    }
    if (rc != 0) {
      throw new IOException(binary + " -t " + m.type() + " (in " + compact.chdir() + ") at " + target + " failed with exit " + rc + ": " + output.strip());
    }
  }

  private static String readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    in.transferTo(out);
    return out.toString(StandardCharsets.UTF_8);
  }

  /**
   * Unmounts the topmost mount at {@code target}. A busy mount is retried for a while and then
   * detached (MNT_DETACH), so the call does not fail because a file is still open inside.
   */
  public static void unmount(Path target) throws IOException {
    Posix posix = Posix.get();
    for (int attempt = 0; ; attempt++) {
      try {
        posix.unmount(target, UMOUNT_NOFOLLOW);
        return;
      } catch (PosixException e) {
        if (e.errno() != Errno.EBUSY) {
          throw e;
        }
        if (attempt >= BUSY_RETRIES) {
          posix.unmount(target, MNT_DETACH | UMOUNT_NOFOLLOW);
          return;
        }
      }
      try {
        Thread.sleep(BUSY_SLEEP_MILLIS);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        posix.unmount(target, MNT_DETACH | UMOUNT_NOFOLLOW);
        return;
      }
    }
  }

  /**
   * Unmounts everything at {@code target} and below it, deepest and newest first, until
   * {@code /proc/self/mountinfo} shows nothing left there. Nothing mounted is not an error.
   */
  public static void unmountAll(Path target) throws IOException {
    Path t = target.toAbsolutePath().normalize();
    for (int round = 0; round < 1000; round++) {
      List<Path> mounted = MountInfo.mountsAtOrUnder(t);
      if (mounted.isEmpty()) {
        return;
      }
      // mountinfo lists in mount order: the last one is on top
      Path top = mounted.get(mounted.size() - 1);
      for (Path p : mounted) {
        if (p.getNameCount() > top.getNameCount()) {
          top = p;
        }
      }
      try {
        unmount(top);
      } catch (PosixException e) {
        if (e.errno() != Errno.EINVAL && e.errno() != Errno.ENOENT) {
          throw e;
        }
      }
    }
    throw new IOException("could not unmount everything at " + t);
  }

  /** {@code sub} below {@code target}, refusing anything that would leave it. */
  static Path resolveTarget(Path target, String sub) throws LaminaException {
    if (sub.isEmpty()) {
      return target;
    }
    if (sub.indexOf('\0') >= 0 || sub.startsWith("/")) {
      throw LaminaException.invalidArgument("mount target \"" + sub + "\" must be a relative path");
    }
    Path rel = Path.of(sub);
    for (Path part : rel) {
      if (part.toString().equals("..")) {
        throw LaminaException.invalidArgument("mount target \"" + sub + "\" leaves the mount root");
      }
    }
    return target.resolve(rel);
  }
}
