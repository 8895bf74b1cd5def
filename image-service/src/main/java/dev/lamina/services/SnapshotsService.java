package dev.lamina.services;

import com.google.protobuf.Empty;
import dev.lamina.containerd.snapshots.v1.CleanupRequest;
import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.lamina.containerd.snapshots.v1.MountsRequest;
import dev.lamina.containerd.snapshots.v1.MountsResponse;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotResponse;
import dev.lamina.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.StatSnapshotResponse;
import dev.lamina.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.UpdateSnapshotResponse;
import dev.lamina.containerd.snapshots.v1.UsageRequest;
import dev.lamina.containerd.snapshots.v1.UsageResponse;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotResponse;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Labels;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * containerd's Snapshots API over one {@link Snapshotter}, so containerd can use lamina as a
 * proxy snapshotter ({@code [proxy_plugins.NAME] type = "snapshot"}). Every call maps to one
 * snapshotter method; errors leave as they are, for {@link ErrorMappingInterceptor} to map.
 *
 * <p>The {@code snapshotter} field of a request names the snapshotter in the caller's
 * configuration (containerd sends its proxy plugin's name). When this service was given a name,
 * a request naming another one fails with NOT_FOUND; without a name, the field is ignored.
 */
public final class SnapshotsService extends SnapshotsGrpc.SnapshotsImplBase {
  /** Snapshots per List response message, as containerd sends them. */
  static final int LIST_BATCH = 100;

  private final Snapshotter snapshotter;
  private final String name;
  private final RemovalGuard guard;

  /**
   * @param name the snapshotter name requests must carry (empty also accepted), or null to
   *     accept any
   */
  public SnapshotsService(Snapshotter snapshotter, String name) {
    this(snapshotter, name, RemovalGuard.NONE);
  }

  /** The same, refusing to remove what {@code guard} keeps. */
  public SnapshotsService(Snapshotter snapshotter, String name, RemovalGuard guard) {
    this.snapshotter = snapshotter;
    this.name = name;
    this.guard = guard;
  }

  @Override
  public void prepare(PrepareSnapshotRequest req, StreamObserver<PrepareSnapshotResponse> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      String target = req.getLabelsMap().get(Labels.TARGET);
      if (target != null && committedOn(target, req.getParent())) {
        throw LaminaException.alreadyExists("target snapshot \"" + target + "\" exists");
      }
      var mounts = snapshotter.prepare(req.getKey(), req.getParent(), req.getLabelsMap());
      return PrepareSnapshotResponse.newBuilder().addAllMounts(Protos.toProto(mounts)).build();
    });
  }

  /** Whether {@code target} is a committed snapshot on {@code parent}. */
  private boolean committedOn(String target, String parent) throws IOException {
    try {
      Info info = snapshotter.stat(target);
      return info.kind() == Kind.COMMITTED && info.parent().equals(parent);
    } catch (LaminaException e) {
      if (e.kind() == ErrorKind.NOT_FOUND) {
        return false;
      }
      throw e;
    }
  }

  @Override
  public void view(ViewSnapshotRequest req, StreamObserver<ViewSnapshotResponse> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      var mounts = snapshotter.view(req.getKey(), req.getParent(), req.getLabelsMap());
      return ViewSnapshotResponse.newBuilder().addAllMounts(Protos.toProto(mounts)).build();
    });
  }

  @Override
  public void mounts(MountsRequest req, StreamObserver<MountsResponse> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      return MountsResponse.newBuilder().addAllMounts(Protos.toProto(snapshotter.mounts(req.getKey()))).build();
    });
  }

  @Override
  public void commit(CommitSnapshotRequest req, StreamObserver<Empty> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      snapshotter.commit(req.getName(), req.getKey(), req.getParent(), req.getLabelsMap());
      return Empty.getDefaultInstance();
    });
  }

  @Override
  public void remove(RemoveSnapshotRequest req, StreamObserver<Empty> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      Info removed = snapshotter.stat(req.getKey());
      Optional<String> kept = guard.whyKept(removed);
      if (kept.isPresent()) {
        throw LaminaException.failedPrecondition("snapshot \"" + req.getKey() + "\" is not removed: " + kept.get());
      }
      snapshotter.remove(req.getKey());
      guard.removed(removed);
      return Empty.getDefaultInstance();
    });
  }

  @Override
  public void stat(StatSnapshotRequest req, StreamObserver<StatSnapshotResponse> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      return StatSnapshotResponse.newBuilder().setInfo(Protos.toProto(snapshotter.stat(req.getKey()))).build();
    });
  }

  @Override
  public void update(UpdateSnapshotRequest req, StreamObserver<UpdateSnapshotResponse> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      if (!req.hasInfo() || req.getInfo().getName().isEmpty()) {
        throw LaminaException.invalidArgument("update needs info with the snapshot's name");
      }
      var updated = snapshotter.update(Protos.info(req.getInfo()), req.getUpdateMask().getPathsList());
      return UpdateSnapshotResponse.newBuilder().setInfo(Protos.toProto(updated)).build();
    });
  }

  /**
   * Streams every matching snapshot, {@link #LIST_BATCH} per message; stops walking when the
   * client goes away.
   */
  @Override
  public void list(ListSnapshotsRequest req, StreamObserver<ListSnapshotsResponse> out) {
    AtomicBoolean cancelled = new AtomicBoolean();
    if (out instanceof ServerCallStreamObserver<ListSnapshotsResponse> call) {
      call.setOnCancelHandler(() -> cancelled.set(true));
    }
    try {
      check(req.getSnapshotter());
      List<dev.lamina.containerd.snapshots.v1.Info> batch = new ArrayList<>(LIST_BATCH);
      snapshotter.walk(info -> {
        if (cancelled.get()) {
          throw new CancellationException("list cancelled by the client");
        }
        batch.add(Protos.toProto(info));
        if (batch.size() >= LIST_BATCH) {
          out.onNext(ListSnapshotsResponse.newBuilder().addAllInfo(batch).build());
          batch.clear();
        }
      }, req.getFiltersList());
      if (!batch.isEmpty()) {
        out.onNext(ListSnapshotsResponse.newBuilder().addAllInfo(batch).build());
      }
    } catch (CancellationException e) {
      return; // nobody to answer
    } catch (IOException | RuntimeException e) {
      out.onError(e);
      return;
    }
    out.onCompleted();
  }

  @Override
  public void usage(UsageRequest req, StreamObserver<UsageResponse> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      Usage u = snapshotter.usage(req.getKey());
      return UsageResponse.newBuilder().setSize(u.size()).setInodes(u.inodes()).build();
    });
  }

  @Override
  public void cleanup(CleanupRequest req, StreamObserver<Empty> out) {
    Calls.unary(out, () -> {
      check(req.getSnapshotter());
      snapshotter.cleanup();
      return Empty.getDefaultInstance();
    });
  }

  private void check(String requested) throws LaminaException {
    if (name != null && !requested.isEmpty() && !requested.equals(name)) {
      throw LaminaException.notFound("snapshotter not loaded: " + requested + " (this socket serves " + name + ")");
    }
  }
}
