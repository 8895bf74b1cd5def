package dev.lamina.warmup;

import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.lamina.containerd.snapshots.v1.MountsRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.UsageRequest;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.lamina.content.LocalContentStore;
import dev.lamina.fs.RemoveAll;
import dev.lamina.images.ImageManagerOptions;
import dev.lamina.images.LocalImageManager;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.remotes.RegistryOptions;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.HostsConfig;
import dev.lamina.server.SnapshotterKind;
import dev.lamina.services.SnapshotsService;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BiConsumer;

/**
 * Runs what the daemon's first requests will run, before it serves them: the JVM compiles code
 * only once it has run it many times, so a freshly started daemon would otherwise spend its first
 * pull interpreting and compiling (about 5 CPU-seconds on a 600 MB image). The warm-up pulls a
 * generated image (gzip and zstd layers, whiteouts, links: {@link GeneratedImage}) from a
 * registry on 127.0.0.1 that it starts itself, several times, into a scratch root of the same
 * snapshotter kind, then runs chains of snapshot operations through the Snapshots service there.
 * Nothing it does touches the daemon's own state; the scratch directory is deleted afterwards.
 */
public final class Warmup {
  /** Pulls of the generated image: enough for the per-entry code to reach the optimizing compiler. */
  static final int PULLS = 3;
  /** Layers of the snapshot chain built through the Snapshots service. */
  static final int SNAPSHOT_ROUNDS = 150;
  private static final String LABEL = "lamina.dev/warmup";

  /** What a warm-up did, and how long it took. */
  public record Report(int pulls, int snapshotOperations, Duration took) {}

  private Warmup() {}

  /**
   * Warms up in a new directory under {@code scratchParent}, stopping early once {@code budget}
   * has passed.
   */
  public static Report run(SnapshotterKind kind, Path scratchParent, Duration budget) throws IOException {
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
              GeneratedImage.generate(1, Files.createDirectories(scratch.resolve("registry"))))) {
        pulls = pulls(registry, scratch, root, content, snapshotter, deadline);
        ops = snapshotOperations(snapshotter, deadline);
      }
      return new Report(pulls, ops, Duration.ofNanos(System.nanoTime() - start));
    } finally {
      RemoveAll.remove(scratch);
    }
  }

  private static int pulls(LoopbackRegistry registry, Path scratch, Path root, LocalContentStore content,
      Snapshotter snapshotter, long deadline) throws IOException {
    Path hosts = scratch.resolve("hosts");
    Path host = Files.createDirectories(hosts.resolve(registry.authority()));
    Files.writeString(host.resolve("hosts.toml"), "server = \"http://" + registry.authority() + "\"\n");
    RegistryClient client = new RegistryClient(RegistryOptions.defaults().withHosts(HostsConfig.directory(hosts)));
    String ref = registry.authority() + "/" + LoopbackRegistry.REPOSITORY + ":" + LoopbackRegistry.TAG;
    int pulls = 0;
    try (LocalImageManager images = LocalImageManager.open(ImageManagerOptions.defaults(root), content, snapshotter,
        client)) {
      while (pulls < PULLS && System.nanoTime() < deadline) {
        images.pull(ref, Credentials.anonymous(), null);
        // removing the only image collects its layers and blobs: the next pull starts from nothing
        images.remove(ref);
        pulls++;
      }
    }
    return pulls;
  }

  /** A chain of prepare, mounts, stat, usage, commit, view, mounts, remove; then a list and removes. */
  private static int snapshotOperations(Snapshotter snapshotter, long deadline) throws IOException {
    SnapshotsService s = new SnapshotsService(snapshotter, null);
    int ops = 0;
    String parent = "";
    int built = 0;
    while (built < SNAPSHOT_ROUNDS && System.nanoTime() < deadline) {
      String key = "warmup-active-" + built;
      String name = "warmup-" + built;
      String view = "warmup-view-" + built;
      call(s::prepare, PrepareSnapshotRequest.newBuilder().setKey(key).setParent(parent).putLabels(LABEL, "true")
          .build(), PrepareSnapshotRequest.parser());
      call(s::mounts, MountsRequest.newBuilder().setKey(key).build(), MountsRequest.parser());
      call(s::stat, StatSnapshotRequest.newBuilder().setKey(key).build(), StatSnapshotRequest.parser());
      call(s::usage, UsageRequest.newBuilder().setKey(key).build(), UsageRequest.parser());
      call(s::commit, CommitSnapshotRequest.newBuilder().setName(name).setKey(key).putLabels(LABEL, "true").build(),
          CommitSnapshotRequest.parser());
      call(s::view, ViewSnapshotRequest.newBuilder().setKey(view).setParent(name).build(),
          ViewSnapshotRequest.parser());
      call(s::mounts, MountsRequest.newBuilder().setKey(view).build(), MountsRequest.parser());
      call(s::remove, RemoveSnapshotRequest.newBuilder().setKey(view).build(), RemoveSnapshotRequest.parser());
      ops += 8;
      parent = name;
      built++;
    }
    call(s::list, ListSnapshotsRequest.newBuilder().build(), ListSnapshotsRequest.parser());
    ops++;
    for (int i = built - 1; i >= 0; i--) {
      call(s::remove, RemoveSnapshotRequest.newBuilder().setKey("warmup-" + i).build(),
          RemoveSnapshotRequest.parser());
      ops++;
    }
    return ops;
  }

  /** One call as the server makes it: the request decoded from bytes, the response encoded. */
  private static <Q extends MessageLite, R extends MessageLite> void call(BiConsumer<Q, StreamObserver<R>> method,
      Q request, Parser<Q> parser) throws IOException {
    Q decoded = parser.parseFrom(request.toByteArray());
    Outcome<R> outcome = new Outcome<>();
    method.accept(decoded, outcome);
    if (outcome.error != null) {
      throw new IOException("warm-up call failed: " + outcome.error.getMessage(), outcome.error);
    }
  }

  private static final class Outcome<R extends MessageLite> implements StreamObserver<R> {
    Throwable error;

    @Override
    public void onNext(R value) {
      value.toByteArray();
    }

    @Override
    public void onError(Throwable t) {
      error = t;
    }

    @Override
    public void onCompleted() {}
  }
}
