package dev.lamina.snapshots;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Run by {@link SnapshotterCrashTest} in a JVM of its own, which it kills at a random moment:
 * prepares, writes, commits, removes and cleans up in a loop on one root, printing
 * {@code COMMITTED <name>} after each commit returned and {@code REMOVING <name>} before a
 * remove of a committed snapshot starts.
 *
 * <p>Arguments: driver ({@code overlay} or {@code copying}), root, seed.
 */
public final class CrashChild {
  private CrashChild() {}

  static Snapshotter open(String driver, Path root) throws IOException {
    return switch (driver) {
      case "overlay" -> OverlaySnapshotter.open(root);
      case "copying" -> CopyingSnapshotter.open(root);
      default -> throw new IllegalArgumentException("unknown driver " + driver);
    };
  }

  /** Where the files of an active snapshot are written, without mounting: the bind source or the upper dir. */
  static Path writableDir(List<Mount> mounts) {
    Mount m = mounts.get(0);
    if (m.type().equals("bind")) {
      return Path.of(m.source());
    }
    for (String o : m.options()) {
      if (o.startsWith("upperdir=")) {
        return Path.of(o.substring("upperdir=".length()));
      }
    }
    throw new IllegalStateException("no writable dir in " + mounts);
  }

  /** The marker file a committed snapshot {@code c-<tag>} carries. */
  static String marker(String name) {
    return "marker-" + name.substring(2);
  }

  public static void main(String[] args) throws Exception {
    String driver = args[0];
    Path root = Path.of(args[1]);
    long seed = Long.parseLong(args[2]);
    Random rnd = new Random(seed);
    PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true);
    try (Snapshotter sn = open(driver, root)) {
      List<String> committed = new ArrayList<>();
      sn.walk(i -> {
        if (i.kind() == Kind.COMMITTED && i.name().startsWith("c-")) {
          committed.add(i.name());
        }
      }, List.of());
      out.println("READY");
      for (int i = 0; ; i++) {
        String tag = seed + "-" + i;
        String parent = committed.isEmpty() || rnd.nextInt(4) == 0 ? "" : committed.get(rnd.nextInt(committed.size()));
        int op = rnd.nextInt(20);
        if (op < 11) {
          String key = "k-" + tag;
          List<Mount> m = sn.prepare(key, parent, Map.of("seed", Long.toString(seed)));
          Path dir = writableDir(m);
          Files.writeString(dir.resolve("marker-" + tag), tag);
          Path sub = Files.createDirectories(dir.resolve("files-" + tag));
          for (int f = 0; f < rnd.nextInt(20); f++) {
            Files.write(sub.resolve("f" + f), new byte[rnd.nextInt(9000)]);
          }
          String name = "c-" + tag;
          sn.commit(name, key, "", Map.of("parent-was", parent));
          out.println("COMMITTED " + name);
          committed.add(name);
        } else if (op < 13) {
          String key = "abandoned-" + tag;
          List<Mount> m = sn.prepare(key, parent, Map.of());
          Files.writeString(writableDir(m).resolve("junk"), "junk");
          sn.remove(key);
        } else if (op < 15) {
          String key = "view-" + tag;
          sn.view(key, parent, Map.of());
          sn.remove(key);
        } else if (op < 16) {
          sn.prepare("left-active-" + tag, parent, Map.of()); // stays, as a container's rootfs would
        } else if (op < 19) {
          if (committed.isEmpty()) {
            continue;
          }
          String victim = committed.get(rnd.nextInt(committed.size()));
          out.println("REMOVING " + victim);
          try {
            sn.remove(victim);
            committed.remove(victim);
            out.println("REMOVED " + victim);
          } catch (LaminaException e) {
            if (e.kind() != ErrorKind.FAILED_PRECONDITION) {
              throw e;
            }
            out.println("KEPT " + victim);
          }
        } else {
          sn.cleanup();
        }
      }
    }
  }
}
