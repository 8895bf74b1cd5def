package dev.lamina.snapshots;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.Root;
import dev.lamina.mount.Mount;
import dev.lamina.mount.TempMounts;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Kills a JVM running {@link CrashChild} with SIGKILL at random moments, 30 times on one root
 * (10 for the copying driver when the overlay one ran: they share the crash protocol),
 * and checks after each kill that the metadata and the directories agree (every snapshot has its
 * directory) and that every snapshot whose commit returned, and which no remove may have taken,
 * is still there, and at the end, after {@code cleanup()}, that no directory is left without a
 * snapshot and that every such snapshot is there with all its files. The metadata files as each
 * kill left them are kept in the temp dir ({@code db-after-kill-<n>}), with the child's output.
 */
class SnapshotterCrashTest {
  private static final int KILLS = 30;
  private static final int KILLS_WHEN_SHARED = 10;

  @TempDir Path tmp;

  @ParameterizedTest
  @ValueSource(strings = {"overlay", "copying"})
  void sigkillAtRandomPointsLosesNothingCommitted(String driver) throws Exception {
    if (driver.equals("overlay")) {
      Root.assumeRoot("overlay mounts");
      Assumptions.assumeTrue(OverlaySnapshotter.supported(tmp), "overlayfs cannot mount on " + tmp);
    }
    int kills = driver.equals("copying") && Root.isRoot() && OverlaySnapshotter.supported(tmp) ? KILLS_WHEN_SHARED : KILLS;
    Path root = tmp.resolve("root");
    // -Dlamina.crashtest.seed=<n> replays the choices (not the timing) of a failed run
    String forced = System.getProperty("lamina.crashtest.seed", "");
    long seed = forced.isEmpty() ? new Random().nextLong() : Long.parseLong(forced);
    Random rnd = new Random(seed);
    Set<String> committed = new HashSet<>();
    Set<String> maybeRemoved = new HashSet<>();
    // every line about a name, with the kill that printed it, for the failure messages
    Map<String, List<String>> history = new HashMap<>();
    int lines = 0;
    for (int kill = 0; kill < kills; kill++) {
      Path stderr = tmp.resolve("child-" + kill + ".err");
      // The child's stdout goes to a file (kept in the temp dir with child-<kill>.err for a
      // failure to be diagnosed), not to a pipe: Process.destroyForcibly closes the pipe right after
      // the signal, which throws away whatever the child wrote that this JVM had not read yet, such
      // as the REMOVING line of a remove that committed just before the kill.
      Path stdout = tmp.resolve("child-" + kill + ".out");
      Process p = new ProcessBuilder(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
          "-cp", System.getProperty("java.class.path"),
          CrashChild.class.getName(), driver, root.toString(), Long.toString(seed + kill))
          .redirectOutput(stdout.toFile())
          .redirectError(stderr.toFile())
          .start();
      awaitReady(p, stdout, stderr, kill);
      int wait = rnd.nextInt(4) == 0 ? rnd.nextInt(5) : rnd.nextInt(400);
      Thread.sleep(wait);
      assertThat(p.isAlive()).as("child died by itself; stderr: " + Files.readString(stderr)).isTrue();
      p.destroyForcibly();
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      List<String> out = completeLines(stdout);
      assertThat(out.get(0)).isEqualTo("READY");
      out = out.subList(1, out.size());
      for (String line : out) {
        lines++;
        String name = line.substring(line.indexOf(' ') + 1);
        history.computeIfAbsent(name, n -> new ArrayList<>()).add("kill " + kill + ": " + line);
        if (line.startsWith("COMMITTED ")) {
          committed.add(name);
        } else if (line.startsWith("REMOVING ")) {
          maybeRemoved.add(name);
        } else if (line.startsWith("REMOVED ")) {
          committed.remove(name);
          maybeRemoved.remove(name);
        } else if (line.startsWith("KEPT ")) {
          maybeRemoved.remove(name);
        }
      }
      // the metadata as the kill left it, before anything reopens it: for a failure to be diagnosed
      saveMetadata(root, tmp.resolve("db-after-kill-" + kill));
      // reopening recovers; every snapshot must have its directory even before cleanup, and
      // every snapshot whose commit returned must be there unless a remove of it may have run
      try (Snapshotter sn = CrashChild.open(driver, root)) {
        Set<String> present = new HashSet<>();
        for (Info i : walk(sn)) {
          present.add(i.name());
          assertThat(((DirectorySnapshotter) sn).directoryOf(i.name()).resolve("fs"))
              .as("after kill %d (seed %d): directory of %s", kill, seed, i.name()).isDirectory();
        }
        for (String name : committed) {
          if (!maybeRemoved.contains(name)) {
            assertThat(present).as("after kill %d (seed %d): committed %s is lost; its lines: %s", kill, seed, name, history.get(name))
                .contains(name);
          }
        }
      }
    }
    assertThat(committed).as("the children committed something (seed " + seed + ")").isNotEmpty();

    try (Snapshotter sn = CrashChild.open(driver, root)) {
      sn.cleanup();
      List<Info> infos = walk(sn);
      Set<Path> dirs = new HashSet<>();
      for (Info i : infos) {
        dirs.add(((DirectorySnapshotter) sn).directoryOf(i.name()));
      }
      try (Stream<Path> s = Files.list(root.resolve("snapshots"))) {
        assertThat(s.collect(Collectors.toSet())).as("seed %d: directories after cleanup", seed).isEqualTo(dirs);
      }
      Set<String> present = infos.stream().map(Info::name).collect(Collectors.toSet());
      for (String name : committed) {
        if (maybeRemoved.contains(name) && !present.contains(name)) {
          continue; // killed during its remove
        }
        assertThat(present).as("seed %d: committed %s is lost; its lines: %s", seed, name, history.get(name)).contains(name);
        assertThat(sn.stat(name).kind()).isEqualTo(Kind.COMMITTED);
        verifyFiles(sn, name);
      }
      // a commit that returned just before its kill was not printed: at most one per kill
      long unreported = infos.stream()
          .filter(i -> i.kind() == Kind.COMMITTED && i.name().startsWith("c-") && !committed.contains(i.name()))
          .count();
      assertThat(unreported).as("seed %d: committed snapshots no child reported", seed).isLessThanOrEqualTo(kills);
      System.out.printf("%s crash test: %d kills, %d lines, %d committed kept, %d snapshots, seed %d%n",
          driver, kills, lines, committed.size(), infos.size(), seed);
    }
  }

  private static void awaitReady(Process p, Path stdout, Path stderr, int kill) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!Files.readString(stdout).startsWith("READY\n")) {
      assertThat(p.isAlive()).as("child %d died before it got ready; stderr: %s", kill, Files.readString(stderr)).isTrue();
      assertThat(System.nanoTime() - deadline).as("child %d never got ready; stderr: %s", kill, Files.readString(stderr)).isNegative();
      Thread.sleep(5);
    }
  }

  /** The lines of {@code file} that end with a newline: a kill may cut the last one short. */
  private static List<String> completeLines(Path file) throws IOException {
    String s = Files.readString(file);
    return List.of(s.substring(0, s.lastIndexOf('\n') + 1).split("\n"));
  }

  /** Copies metadata.db and its -wal and -shm (those present) into {@code into}. */
  private static void saveMetadata(Path root, Path into) throws IOException {
    Files.createDirectories(into);
    for (String f : List.of("metadata.db", "metadata.db-wal", "metadata.db-shm")) {
      Path from = root.resolve(f);
      if (Files.exists(from)) {
        Files.copy(from, into.resolve(f));
      }
    }
  }

  private static List<Info> walk(Snapshotter sn) throws IOException {
    List<Info> out = new ArrayList<>();
    sn.walk(out::add, List.of());
    return out;
  }

  /** A view of {@code name} shows the marker of it and of every ancestor, and their files. */
  private static void verifyFiles(Snapshotter sn, String name) throws IOException {
    List<String> chain = new ArrayList<>();
    for (String n = name; !n.isEmpty(); n = sn.stat(n).parent()) {
      chain.add(n);
    }
    String view = "verify-" + name;
    List<Mount> m = sn.view(view, name, java.util.Map.of());
    try {
      TempMounts.MountedFunction<Void> check = dir -> {
        for (String n : chain) {
          Path marker = dir.resolve(CrashChild.marker(n));
          assertThat(marker).as("marker of %s in view of %s", n, name).exists();
          assertThat(Files.readString(marker)).isEqualTo(n.substring(2));
          assertThat(dir.resolve("files-" + n.substring(2))).isDirectory();
        }
        return null;
      };
      if (m.size() == 1 && m.get(0).type().equals("bind")) {
        check.apply(Path.of(m.get(0).source()));
      } else {
        TempMounts.withTempMount(m, check);
      }
    } finally {
      sn.remove(view);
    }
  }
}
