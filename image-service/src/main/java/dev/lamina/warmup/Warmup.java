package dev.lamina.warmup;

import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.lamina.containerd.snapshots.v1.MountsRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.UsageRequest;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.WhiteoutMode;
import dev.lamina.content.LocalContentStore;
import dev.lamina.digest.DigestingInputStream;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.fs.RemoveAll;
import dev.lamina.images.ImageManagerOptions;
import dev.lamina.images.LocalImageManager;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.remotes.RegistryOptions;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.HostsConfig;
import dev.lamina.server.InlineCalls;
import dev.lamina.server.SnapshotterKind;
import dev.lamina.server.UnixSockets;
import dev.lamina.services.ErrorMappingInterceptor;
import dev.lamina.services.SnapshotsService;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import io.grpc.ManagedChannel;
import io.grpc.ServerInterceptors;
import io.grpc.StatusRuntimeException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Runs what the daemon's first requests will run, before it serves them: the JVM compiles code
 * only once it has run it many times, so a freshly started daemon would otherwise spend its first
 * pull interpreting and compiling (about 5 CPU-seconds on a 600 MB image). The warm-up pulls a
 * generated image (gzip and zstd layers, whiteouts, links: {@link GeneratedImage}) from a
 * registry on 127.0.0.1 that it starts itself, several times, into a scratch root of the same
 * snapshotter kind, applies its layers a few more times through the layer engine alone, then runs
 * a chain of snapshot operations, thousands of short calls and prepare/commit/remove cycles through
 * the Snapshots service there, over a unix socket of its own, and a second chain with calls framed
 * the way containerd's gRPC library frames them. Between rounds it lets the JIT catch
 * up. Nothing it does touches the daemon's own state; the scratch directory is deleted afterwards.
 */
public final class Warmup {
  /** Pulls of the generated image: every stage of a pull, end to end. */
  static final int PULLS = 3;
  /** Applies of the generated layers through the layer engine alone, after the pulls. */
  static final int APPLIES = 3;
  /** Layers of the snapshot chain built through the Snapshots service. */
  static final int SNAPSHOT_ROUNDS = 150;
  /** Stat and mounts calls after the chain is built: cheap, and many. */
  static final int SHORT_CALLS = 6000;
  /** Prepare, commit and remove of one layer on the chain's top, after the short calls. */
  static final int LAYER_CYCLES = 1000;
  /** Layers of a second chain, built with calls framed as containerd frames them. */
  static final int CONTAINERD_STYLE_ROUNDS = 200;
  /** Reads through the digesting stream after the applies: a pull makes some 10,000. */
  static final int DIGEST_READS = 20_000;
  /** The longest wait for the compilers between two rounds. */
  static final Duration COMPILER_WAIT = Duration.ofSeconds(2);
  private static final String LABEL = "lamina.dev/warmup";

  /** What a warm-up did, and how long it took. */
  public record Report(int pulls, int snapshotOperations, Duration took) {}

  private Warmup() {}

  /**
   * Warms up in a new directory under {@code scratchParent}, stopping early once {@code budget}
   * has passed.
   */
  public static Report run(SnapshotterKind kind, Path scratchParent, Duration budget) throws IOException {
    return run(kind, scratchParent, budget, StreamProcessors.builtIn());
  }

  /** As the daemon unpacks: through {@code processors} (an external gzip program, for one). */
  public static Report run(SnapshotterKind kind, Path scratchParent, Duration budget, StreamProcessors processors)
      throws IOException {
    long start = System.nanoTime();
    long deadline = start + budget.toNanos();
    Files.createDirectories(scratchParent);
    Path scratch = Files.createTempDirectory(scratchParent, "lamina-warmup-");
    try {
      int pulls;
      int ops;
      Path root = scratch.resolve("root");
      try (Snapshotter snapshotter = kind == SnapshotterKind.OVERLAY ? OverlaySnapshotter.open(root)
              : CopyingSnapshotter.open(root);
          LocalContentStore content = LocalContentStore.open(root.resolve("content"));
          LoopbackRegistry registry = new LoopbackRegistry(
              GeneratedImage.generate(1, Files.createDirectories(scratch.resolve("registry")),
                  Posix.get().isRoot()))) {
        pulls = pulls(registry, scratch, root, content, snapshotter, processors, deadline);
        applies(registry.image(), kind, scratch, processors, deadline);
        digests(deadline);
        awaitCompilerIdle(deadline);
        ops = snapshotOperations(snapshotter, scratch, deadline);
        awaitCompilerIdle(deadline);
      }
      return new Report(pulls, ops, Duration.ofNanos(System.nanoTime() - start));
    } finally {
      RemoveAll.remove(scratch);
    }
  }

  private static int pulls(LoopbackRegistry registry, Path scratch, Path root, LocalContentStore content,
      Snapshotter snapshotter, StreamProcessors processors, long deadline) throws IOException {
    Path hosts = scratch.resolve("hosts");
    Path host = Files.createDirectories(hosts.resolve(registry.authority()));
    Files.writeString(host.resolve("hosts.toml"), "server = \"http://" + registry.authority() + "\"\n");
    RegistryClient client = new RegistryClient(RegistryOptions.defaults().withHosts(HostsConfig.directory(hosts)));
    String ref = registry.authority() + "/" + LoopbackRegistry.REPOSITORY + ":" + LoopbackRegistry.TAG;
    int pulls = 0;
    ImageManagerOptions options = ImageManagerOptions.defaults(root).withProcessors(processors);
    try (LocalImageManager images = LocalImageManager.open(options, content, snapshotter, client)) {
      while (pulls < PULLS && System.nanoTime() < deadline) {
        images.pull(ref, Credentials.anonymous(), null);
        // removing the only image collects its layers and blobs: the next pull starts from nothing
        images.remove(ref);
        pulls++;
        awaitCompilerIdle(deadline);
      }
    }
    return pulls;
  }

  /**
   * Applies the generated layers, in order, straight through the layer engine into a scratch
   * directory, {@link #APPLIES} times. The code that runs once per tar entry (reading headers,
   * creating and finishing files) is the hottest of a pull, and the pulls alone do not run it often
   * enough for the optimizing compiler; these applies skip the registry, the content store and the
   * snapshots, so they cost little. They read the layers through the pull's own streaming applier,
   * so the entry loop sees the same stream classes as in a pull.
   */
  private static void applies(GeneratedImage image, SnapshotterKind kind, Path scratch, StreamProcessors processors,
      long deadline) throws IOException {
    ApplyOptions options = ApplyOptions.defaults()
        .withWhiteouts(kind == SnapshotterKind.OVERLAY ? WhiteoutMode.OVERLAY : WhiteoutMode.NAIVE);
    StreamApplier applier = new StreamApplier(processors);
    for (int i = 0; i < APPLIES && System.nanoTime() < deadline; i++) {
      Path dir = Files.createDirectories(scratch.resolve("apply"));
      try {
        int n = 0;
        for (Path layer : image.layers().values()) {
          // As the snapshotter unpacks: overlay into an empty directory per layer, copying onto
          // the layers below (an entry loop compiled for one way stumbles on the other).
          Path target = kind == SnapshotterKind.OVERLAY ? Files.createDirectories(dir.resolve("layer-" + n++)) : dir;
          try (InputStream in = new BufferedInputStream(Files.newInputStream(layer), 1 << 16)) {
            applier.apply(LayerBlob.of(in), target, options);
          }
        }
      } finally {
        RemoveAll.remove(dir);
      }
    }
  }

  /**
   * Reads {@link #DIGEST_READS} times through the SHA-256 stream the pull hashes diff IDs with,
   * in reads of the lengths a pull's streams make (a few bytes, tar blocks, page-sized and 256 KiB
   * buffers). The generated image is small: its pulls and applies make too few reads for the
   * optimizing compiler to compile MessageDigest.update again once a rare branch has thrown its
   * first compilation away, and until it does, SHA-256 runs as Java code and not on the CPU's hash
   * instructions, a few times slower, during the first real pull.
   */
  private static void digests(long deadline) throws IOException {
    Random random = new Random(1);
    byte[] data = new byte[1 << 18];
    random.nextBytes(data);
    int[] lengths = {1, 13, 512, 4096, 10_000, 65_536};
    // a source whose reads leave the buffer as it is: the bytes hashed are data's
    InputStream source = new InputStream() {
      @Override
      public int read() {
        return 0;
      }

      @Override
      public int read(byte[] b, int off, int len) {
        return len;
      }
    };
    try (DigestingInputStream in = new DigestingInputStream(source)) {
      for (int i = 0; i < DIGEST_READS && (i % 1000 != 0 || System.nanoTime() < deadline); i++) {
        // mostly short reads, one in 64 of the largest: some 80 MB in all
        int len = i % 64 == 0 ? data.length : 1 + random.nextInt(lengths[i % lengths.length]);
        in.read(data, 0, len);
      }
    }
  }

  /**
   * Waits until the JIT compilers have been idle for a moment, or {@link #COMPILER_WAIT} has
   * passed. The optimizing compiler's thresholds grow with the length of its queue, and at start-up
   * that queue is long, so counts reached while it is busy are not acted on; a round that runs
   * after the queue drained has its hot code compiled, instead of the first real pull.
   */
  static void awaitCompilerIdle(long deadline) {
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    if (jit == null || !jit.isCompilationTimeMonitoringSupported()) {
      return;
    }
    long until = Math.min(deadline, System.nanoTime() + COMPILER_WAIT.toNanos());
    long last = jit.getTotalCompilationTime();
    int quiet = 0;
    while (quiet < 4 && System.nanoTime() < until) {
      try {
        Thread.sleep(25);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      long now = jit.getTotalCompilationTime();
      quiet = now == last ? quiet + 1 : 0;
      last = now;
    }
  }

  /**
   * A chain of prepare, mounts, stat, usage, commit, view, mounts, remove; then a list and
   * removes: each a real call through a gRPC server on a unix socket in the scratch directory,
   * built as the daemon's is (netty epoll, the error-mapping interceptor), so the transport is
   * compiled too.
   */
  private static int snapshotOperations(Snapshotter snapshotter, Path scratch, long deadline) throws IOException {
    Path socket = scratch.resolve("warmup.sock");
    EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, new DefaultThreadFactory("lamina-warmup-io", true),
        EpollIoHandler.newFactory());
    ExecutorService pool = Executors.newFixedThreadPool(2, new DefaultThreadFactory("lamina-warmup-rpc", true));
    io.grpc.Server server = UnixSockets.serverBuilder(socket, group, group)
        .directExecutor()
        .intercept(new InlineCalls(pool, Integer.MAX_VALUE))
        .addService(ServerInterceptors.intercept(new SnapshotsService(snapshotter, null),
            new ErrorMappingInterceptor()))
        .build()
        .start();
    ManagedChannel channel = UnixSockets.channel(socket, group);
    try {
      int ops = snapshotOperations(SnapshotsGrpc.newBlockingStub(channel), deadline);
      try (ContainerdStyleClient containerd = ContainerdStyleClient.connect(socket, group)) {
        ops += containerdStyleOperations(containerd, deadline);
      }
      return ops;
    } catch (StatusRuntimeException e) {
      throw new IOException("warm-up call failed: " + e.getStatus(), e);
    } finally {
      channel.shutdownNow();
      server.shutdownNow();
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
        server.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
      pool.shutdownNow();
    }
  }

  /**
   * A chain built the way containerd drives a proxy snapshotter when it unpacks an image and
   * starts containers (prepare, stat, commit, then a view and its mounts), sent as containerd's
   * gRPC library frames it, and removed again. The calls above compile the server for grpc-java's
   * framing; without these, containerd's first few hundred calls would find parts of it compiled
   * for traffic that never comes, and wait while it is compiled again.
   */
  private static int containerdStyleOperations(ContainerdStyleClient c, long deadline) throws IOException {
    Chain chain = new Chain("warmup-containerd");
    int built = chain.build(CONTAINERD_STYLE_ROUNDS, deadline, (key, parent, name, view) -> {
      c.call(SnapshotsGrpc.getPrepareMethod(),
          PrepareSnapshotRequest.newBuilder().setKey(key).setParent(parent).putLabels(LABEL, "true").build());
      c.call(SnapshotsGrpc.getStatMethod(), StatSnapshotRequest.newBuilder().setKey(key).build());
      c.call(SnapshotsGrpc.getCommitMethod(),
          CommitSnapshotRequest.newBuilder().setName(name).setKey(key).putLabels(LABEL, "true").build());
      c.call(SnapshotsGrpc.getViewMethod(), ViewSnapshotRequest.newBuilder().setKey(view).setParent(name).build());
      c.call(SnapshotsGrpc.getMountsMethod(), MountsRequest.newBuilder().setKey(view).build());
      c.call(SnapshotsGrpc.getRemoveMethod(), RemoveSnapshotRequest.newBuilder().setKey(view).build());
    });
    for (int i = built - 1; i >= 0; i--) {
      c.call(SnapshotsGrpc.getRemoveMethod(), RemoveSnapshotRequest.newBuilder().setKey(chain.name(i)).build());
    }
    return 7 * built; // six calls per layer, then its remove
  }

  /**
   * A warm-up chain: layer i is committed as {@code <prefix>-i} from active {@code <prefix>-active-i},
   * with a view {@code <prefix>-view-i} on it.
   */
  private record Chain(String prefix) {
    /** The calls that add one layer: prepare {@code key} on {@code parent} ("" for the first), commit it as {@code name}. */
    @FunctionalInterface
    interface Layer {
      void add(String key, String parent, String name, String view) throws IOException;
    }

    String name(int i) {
      return prefix + "-" + i;
    }

    /** Adds layers, each on the last, until {@code rounds} or the deadline; returns how many. */
    int build(int rounds, long deadline, Layer layer) throws IOException {
      int built = 0;
      while (built < rounds && System.nanoTime() < deadline) {
        layer.add(prefix + "-active-" + built, built == 0 ? "" : name(built - 1), name(built), prefix + "-view-" + built);
        built++;
      }
      return built;
    }
  }

  private static int snapshotOperations(SnapshotsGrpc.SnapshotsBlockingStub s, long deadline) throws IOException {
    Chain chain = new Chain("warmup");
    int built = chain.build(SNAPSHOT_ROUNDS, deadline, (key, parent, name, view) -> {
      s.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).setParent(parent).putLabels(LABEL, "true").build());
      s.mounts(MountsRequest.newBuilder().setKey(key).build());
      s.stat(StatSnapshotRequest.newBuilder().setKey(key).build());
      s.usage(UsageRequest.newBuilder().setKey(key).build());
      s.commit(CommitSnapshotRequest.newBuilder().setName(name).setKey(key).putLabels(LABEL, "true").build());
      s.view(ViewSnapshotRequest.newBuilder().setKey(view).setParent(name).build());
      s.mounts(MountsRequest.newBuilder().setKey(view).build());
      s.remove(RemoveSnapshotRequest.newBuilder().setKey(view).build());
    });
    int ops = 8 * built;
    s.list(ListSnapshotsRequest.newBuilder().build()).forEachRemaining(r -> { });
    ops++;
    // Every call shares the transport, HTTP/2, protobuf and metadata-read paths; they reach the
    // optimizing compiler only after thousands of calls, which the cheapest calls give quickly.
    if (built > 0) {
      String top = chain.name(built - 1);
      String view = "warmup-view-top";
      s.view(ViewSnapshotRequest.newBuilder().setKey(view).setParent(top).build());
      for (int i = 0; i < SHORT_CALLS / 2 && System.nanoTime() < deadline; i++) {
        s.stat(StatSnapshotRequest.newBuilder().setKey(top).build());
        s.mounts(MountsRequest.newBuilder().setKey(view).build());
        ops += 2;
      }
      // and the operations a pull or a container start makes, on top of a deep chain
      for (int i = 0; i < LAYER_CYCLES && System.nanoTime() < deadline; i++) {
        String key = "warmup-cycle-active-" + i;
        String name = "warmup-cycle-" + i;
        s.prepare(PrepareSnapshotRequest.newBuilder().setKey(key).setParent(top).putLabels(LABEL, "true").build());
        s.commit(CommitSnapshotRequest.newBuilder().setName(name).setKey(key).putLabels(LABEL, "true").build());
        s.remove(RemoveSnapshotRequest.newBuilder().setKey(name).build());
        ops += 3;
      }
      s.remove(RemoveSnapshotRequest.newBuilder().setKey(view).build());
      ops += 2;
    }
    for (int i = built - 1; i >= 0; i--) {
      s.remove(RemoveSnapshotRequest.newBuilder().setKey(chain.name(i)).build());
      ops++;
    }
    return ops;
  }
}
