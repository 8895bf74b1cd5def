package dev.lamina.sizes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.mount.Mount;
import dev.lamina.posix.Posix;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sizes of containers' writable layers on the overlay snapshotter, against {@code du}. */
class SizeSamplerTest {
  @TempDir Path tmp;
  Snapshotter snapshotter;

  @BeforeEach
  void open() throws IOException {
    Path root = tmp.resolve("root");
    assumeTrue(OverlaySnapshotter.supported(root.resolve("probe")), "overlayfs with upper dirs needs root");
    snapshotter = OverlaySnapshotter.open(root);
  }

  @AfterEach
  void close() throws IOException {
    if (snapshotter != null) {
      snapshotter.close();
    }
  }

  /** A committed layer of {@code bytes}, and a container on it: containerd's key shapes. */
  Path container(String id, String layer, int bytes) throws IOException {
    String extract = "default/1/extract-1-" + layer + " sha256:" + layer;
    Path up = upper(snapshotter.prepare(extract, "", Map.of()));
    Files.write(up.resolve("base"), new byte[bytes]);
    Files.writeString(up.resolve("lower-file"), "deleted by the container");
    snapshotter.commit("default/2/sha256:" + layer, extract, "", Map.of());
    return upper(snapshotter.prepare("default/3/" + id, "default/2/sha256:" + layer, Map.of()));
  }

  static Path upper(List<Mount> mounts) {
    return mounts.get(0).options().stream().filter(o -> o.startsWith("upperdir=")).map(o -> Path.of(o.substring(9)))
        .findFirst().orElseGet(() -> Path.of(mounts.get(0).source()));
  }

  @Test
  void sizeRwIsWhatDuSaysAndSizeRootFsAddsTheCommittedLayers() throws Exception {
    Path up = container("web", "aaaa", 300_000);
    Files.write(up.resolve("file"), new byte[123_457]);
    Files.createDirectories(up.resolve("dir/sub"));
    Files.writeString(up.resolve("dir/sub/small"), "x");
    Files.createLink(up.resolve("dir/hardlink"), up.resolve("file")); // counted once
    try (RandomAccessFile sparse = new RandomAccessFile(up.resolve("sparse").toFile(), "rw")) {
      sparse.setLength(64L << 20); // 64 MiB apparent, nothing allocated
      sparse.seek(32L << 20);
      sparse.write("middle".getBytes(StandardCharsets.UTF_8));
    }
    Posix.get().mknod(up.resolve("lower-file"), 0020000, 0, 0); // the whiteout of a deleted lower file
    Files.createSymbolicLink(up.resolve("link"), Path.of("file"));

    SizeSampler.Sweep sweep = new SizeSampler(snapshotter, 0, Clock.systemUTC()).sweep();

    assertThat(sweep.containers()).containsOnlyKeys("default/3/web");
    ContainerSize s = sweep.containers().get("default/3/web");
    assertThat(s.container()).isEqualTo(new ContainerKey("default", "web"));
    assertThat(s.sizeRw()).isEqualTo(du(up, "--block-size=1"));
    assertThat(s.inodes()).isEqualTo(du(up, "--inodes"));
    assertThat(s.sizeRw()).isLessThan(1L << 20); // the sparse file's hole is not counted
    Usage layer = snapshotter.usage("default/2/sha256:aaaa");
    assertThat(layer.size()).isGreaterThanOrEqualTo(300_000);
    assertThat(s.sizeRootFs()).isEqualTo(s.sizeRw() + layer.size());
    assertThat(s.parent()).isEqualTo("default/2/sha256:aaaa");
    assertThat(sweep.snapshots()).containsEntry(Kind.ACTIVE, 1).containsEntry(Kind.COMMITTED, 1);
  }

  @Test
  void aSnapshotRemovedWhileMeasuredIsDroppedAndTheOthersAreStillMeasured() throws Exception {
    Path keep = container("keep", "bbbb", 4096);
    Files.write(keep.resolve("f"), new byte[10_000]);
    container("gone", "cccc", 4096);
    // remove "gone" between the listing and its walk, as containerd may at any time
    Snapshotter racing = new ForwardingSnapshotter(snapshotter) {
      @Override
      public Usage usage(String key) throws IOException {
        if (key.equals("default/3/gone")) {
          snapshotter.remove(key);
        }
        return super.usage(key);
      }
    };
    SizeSampler sampler = new SizeSampler(racing, 0, Clock.systemUTC());
    SizeSampler.Sweep sweep = sampler.sweep();
    assertThat(sweep.containers()).containsOnlyKeys("default/3/keep");
    assertThat(sweep.errors()).isZero();
    assertThat(sweep.containers().get("default/3/keep").sizeRw()).isEqualTo(du(keep, "--block-size=1"));
    assertThat(sampler.latest()).isSameAs(sweep);
  }

  @Test
  void aContainerWritingWhileMeasuredIsMeasuredAndTheNextSweepCatchesUp() throws Exception {
    Path up = container("busy", "dddd", 4096);
    AtomicBoolean stop = new AtomicBoolean();
    Thread writer = new Thread(() -> {
      try {
        for (int i = 0; !stop.get() && i < 20_000; i++) {
          Path d = Files.createDirectories(up.resolve("d" + (i % 50)));
          Files.write(d.resolve("f" + i), new byte[i % 9000]);
          if (i % 7 == 0) {
            Files.deleteIfExists(d.resolve("f" + (i - 7)));
          }
        }
      } catch (IOException e) {
        throw new RuntimeException(e);
      }
    });
    writer.start();
    SizeSampler sampler = new SizeSampler(snapshotter, 0, Clock.systemUTC());
    for (int i = 0; i < 5; i++) {
      SizeSampler.Sweep during = sampler.sweep();
      assertThat(during.containers()).containsKey("default/3/busy");
      assertThat(during.errors()).isZero();
    }
    stop.set(true);
    writer.join(TimeUnit.SECONDS.toMillis(30));
    assertThat(sampler.sweep().containers().get("default/3/busy").sizeRw()).isEqualTo(du(up, "--block-size=1"));
  }

  @Test
  void aContainerWithAMillionEntriesIsMeasuredAsDuCountsItAndTheLogSaysItIsSlow() throws Exception {
    Path small = container("small", "eeee", 4096);
    Files.write(small.resolve("f"), new byte[10_000]);
    Path big = container("big", "ffff", 4096);
    int dirs = 1_000;
    int perDir = 1_000;
    ExecutorService creators = Executors.newFixedThreadPool(2);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int d = 0; d < dirs; d++) {
        Path dir = Files.createDirectory(big.resolve("d" + d));
        done.add(creators.submit(() -> {
          for (int f = 0; f < perDir; f++) {
            Files.createFile(dir.resolve("f" + f));
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      creators.shutdownNow();
    }

    SizeSampler sampler = new SizeSampler(snapshotter, 0, Clock.systemUTC(), Duration.ofMillis(200),
        new QuietContainers());
    SizeSampler.Sweep sweep;
    String log;
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      sweep = sampler.sweep();
      sampler.sweep(); // logged once, not at every sweep
    } finally {
      System.setErr(err);
      log = captured.toString(StandardCharsets.UTF_8);
      err.print(log);
    }

    assertThat(sweep.errors()).isZero();
    assertThat(sweep.containers()).containsOnlyKeys("default/3/big", "default/3/small");
    ContainerSize s = sweep.containers().get("default/3/big");
    assertThat(s.inodes()).isEqualTo(du(big, "--inodes")).isGreaterThan((long) dirs * perDir);
    assertThat(s.sizeRw()).isEqualTo(du(big, "--block-size=1"));
    assertThat(sweep.containers().get("default/3/small").sizeRw()).isEqualTo(du(small, "--block-size=1"));
    assertThat(log.lines().filter(l -> l.contains("measuring container big (snapshot default/3/big) took")))
        .singleElement().asString().contains(s.inodes() + " inodes").contains("project quotas");
    assertThat(log).doesNotContain("measuring container small");

    snapshotter.remove("default/3/big");
    assertThat(sampler.sweep().containers()).as("no series for a snapshot gone").containsOnlyKeys("default/3/small");
  }

  @Test
  void aContainerWhoseTaskExitedIsMeasuredOnceMoreThenKeptUntilATaskStarts() throws Exception {
    Path up = container("job", "abab", 4096);
    Files.write(up.resolve("before-exit"), new byte[20_000]);
    QuietContainers quiet = new QuietContainers();
    SizeSampler sampler = new SizeSampler(snapshotter, 0, Clock.systemUTC(), SizeSampler.SLOW_WALK, quiet);
    ContainerKey job = new ContainerKey("default", "job");
    long running = sampler.sweep().containers().get("default/3/job").sizeRw();

    Files.write(up.resolve("at-exit"), new byte[30_000]);
    sampler.tasks().exited(job);
    SizeSampler.Sweep afterExit = sampler.sweep();
    assertThat(afterExit.unchanged()).as("measured before the exit: measured again").isZero();
    long exited = afterExit.containers().get("default/3/job").sizeRw();
    assertThat(exited).isEqualTo(du(up, "--block-size=1")).isGreaterThan(running);

    // nothing in the container can write now; a file put there from outside shows it is not walked
    Files.write(up.resolve("from-outside"), new byte[40_000]);
    SizeSampler.Sweep kept = sampler.sweep();
    assertThat(kept.unchanged()).isEqualTo(1);
    assertThat(kept.containers().get("default/3/job").sizeRw()).isEqualTo(exited);

    sampler.tasks().started(job);
    SizeSampler.Sweep restarted = sampler.sweep();
    assertThat(restarted.unchanged()).isZero();
    assertThat(restarted.containers().get("default/3/job").sizeRw()).isEqualTo(du(up, "--block-size=1"))
        .isGreaterThan(exited);

    sampler.tasks().exited(job);
    sampler.sweep();
    assertThat(sampler.sweep().unchanged()).isEqualTo(1);
    sampler.tasks().listening(); // the event stream broke: an exit or start may have been missed
    assertThat(sampler.sweep().unchanged()).isZero();
  }

  @Test
  void aStartHeardForAContainerNotMeasuredYetKeepsItWalked() throws Exception {
    Path up = container("late", "acac", 4096);
    QuietContainers quiet = new QuietContainers();
    AtomicBoolean fail = new AtomicBoolean(true);
    Snapshotter flaky = new ForwardingSnapshotter(snapshotter) {
      @Override
      public Usage usage(String key) throws IOException {
        if (key.equals("default/3/late") && fail.getAndSet(false)) {
          throw new IOException("walk failed once");
        }
        return super.usage(key);
      }
    };
    SizeSampler sampler = new SizeSampler(flaky, 0, Clock.systemUTC(), SizeSampler.SLOW_WALK, quiet);
    quiet.running("default", java.util.Set.of()); // listed before its task started
    quiet.started(new ContainerKey("default", "late"));
    assertThat(sampler.sweep().errors()).isEqualTo(1); // not measured: nothing to keep
    assertThat(sampler.sweep().containers()).containsKey("default/3/late");

    Files.write(up.resolve("written"), new byte[50_000]); // it runs: the next sweep walks it
    SizeSampler.Sweep next = sampler.sweep();
    assertThat(next.unchanged()).isZero();
    assertThat(next.containers().get("default/3/late").sizeRw()).isEqualTo(du(up, "--block-size=1"));
  }

  @Test
  void onlyContainersKeysAreContainers() {
    assertThat(ContainerKey.parse("k8s.io/41/5f2b9c")).hasValue(new ContainerKey("k8s.io", "5f2b9c"));
    assertThat(ContainerKey.parse("default/3/extract-123-abc sha256:1")).isEmpty();
    assertThat(ContainerKey.parse("default/x/id")).isEmpty();
    assertThat(ContainerKey.parse("pull-sha256:abc")).isEmpty();
    assertThat(ContainerKey.parse("a/1/b/c")).isEmpty();
  }

  static long du(Path dir, String what) throws Exception {
    Process p = new ProcessBuilder("du", "-s", what, dir.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    return Long.parseLong(out.split("\\s+")[0]);
  }

  /** Passes every call on; tests override one to interleave. */
  static class ForwardingSnapshotter implements Snapshotter {
    final Snapshotter d;

    ForwardingSnapshotter(Snapshotter d) {
      this.d = d;
    }

    @Override public Info stat(String key) throws IOException { return d.stat(key); }
    @Override public Info update(Info info, List<String> paths) throws IOException { return d.update(info, paths); }
    @Override public Usage usage(String key) throws IOException { return d.usage(key); }
    @Override public List<Mount> mounts(String key) throws IOException { return d.mounts(key); }
    @Override public List<Mount> prepare(String k, String p, Map<String, String> l) throws IOException {
      return d.prepare(k, p, l);
    }
    @Override public List<Mount> view(String k, String p, Map<String, String> l) throws IOException {
      return d.view(k, p, l);
    }
    @Override public void commit(String n, String k, String p, Map<String, String> l) throws IOException {
      d.commit(n, k, p, l);
    }
    @Override public void remove(String key) throws IOException { d.remove(key); }
    @Override public void walk(java.util.function.Consumer<Info> fn, List<String> f) throws IOException { d.walk(fn, f); }
    @Override public void cleanup() throws IOException { d.cleanup(); }
    @Override public void close() throws IOException { d.close(); }
  }
}
