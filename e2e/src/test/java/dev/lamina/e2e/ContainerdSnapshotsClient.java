package dev.lamina.e2e;

import com.google.protobuf.FieldMask;
import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.Info;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.lamina.containerd.snapshots.v1.MountsRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.UsageRequest;
import dev.lamina.containerd.snapshots.v1.UsageResponse;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.lamina.containerd.types.Mount;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A blocking client of containerd's {@code containerd.services.snapshots.v1.Snapshots} API over a
 * unix socket (grpc-netty on Netty's epoll domain-socket channel), the way containerd's proxy
 * plugin talks to lamina. Pointed at containerd's own socket with a {@code namespace}, it talks to
 * containerd's snapshots service instead (the {@code containerd-namespace} header) and then needs
 * a snapshotter name in every request.
 */
final class ContainerdSnapshotsClient implements AutoCloseable {
  private static final Metadata.Key<String> NAMESPACE =
      Metadata.Key.of("containerd-namespace", Metadata.ASCII_STRING_MARSHALLER);

  private final UnixSocketChannel channel;
  private final SnapshotsGrpc.SnapshotsBlockingStub stub;
  private final String snapshotter;

  private ContainerdSnapshotsClient(Path socket, String namespace, String snapshotter) {
    this.snapshotter = snapshotter == null ? "" : snapshotter;
    channel = UnixSocketChannel.open(socket);
    SnapshotsGrpc.SnapshotsBlockingStub s = SnapshotsGrpc.newBlockingStub(channel.channel());
    if (namespace != null) {
      Metadata headers = new Metadata();
      headers.put(NAMESPACE, namespace);
      s = s.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    stub = s;
  }

  /** A client of lamina's snapshotter socket (what containerd's proxy plugin is). */
  static ContainerdSnapshotsClient lamina(Path socket) {
    return new ContainerdSnapshotsClient(socket, null, "");
  }

  /** A client of containerd's own snapshots service, for {@code snapshotter} in {@code namespace}. */
  static ContainerdSnapshotsClient containerd(Path socket, String namespace, String snapshotter) {
    return new ContainerdSnapshotsClient(socket, namespace, snapshotter);
  }

  private SnapshotsGrpc.SnapshotsBlockingStub stub() {
    return stub.withDeadlineAfter(60, TimeUnit.SECONDS);
  }

  List<Mount> prepare(String key, String parent) {
    return prepare(key, parent, Map.of());
  }

  List<Mount> prepare(String key, String parent, Map<String, String> labels) {
    return stub().prepare(PrepareSnapshotRequest.newBuilder().setSnapshotter(snapshotter).setKey(key)
        .setParent(parent).putAllLabels(labels).build()).getMountsList();
  }

  List<Mount> view(String key, String parent) {
    return view(key, parent, Map.of());
  }

  List<Mount> view(String key, String parent, Map<String, String> labels) {
    return stub().view(ViewSnapshotRequest.newBuilder().setSnapshotter(snapshotter).setKey(key).setParent(parent)
        .putAllLabels(labels).build()).getMountsList();
  }

  List<Mount> mounts(String key) {
    return stub().mounts(MountsRequest.newBuilder().setSnapshotter(snapshotter).setKey(key).build()).getMountsList();
  }

  void commit(String name, String key) {
    commit(name, key, Map.of());
  }

  void commit(String name, String key, Map<String, String> labels) {
    stub().commit(CommitSnapshotRequest.newBuilder().setSnapshotter(snapshotter).setName(name).setKey(key)
        .putAllLabels(labels).build());
  }

  void remove(String key) {
    stub().remove(RemoveSnapshotRequest.newBuilder().setSnapshotter(snapshotter).setKey(key).build());
  }

  Info stat(String key) {
    return stub().stat(StatSnapshotRequest.newBuilder().setSnapshotter(snapshotter).setKey(key).build()).getInfo();
  }

  Info updateLabels(String name, Map<String, String> labels, List<String> paths) {
    return stub().update(UpdateSnapshotRequest.newBuilder().setSnapshotter(snapshotter)
        .setInfo(Info.newBuilder().setName(name).putAllLabels(labels))
        .setUpdateMask(FieldMask.newBuilder().addAllPaths(paths)).build()).getInfo();
  }

  UsageResponse usage(String key) {
    return stub().usage(UsageRequest.newBuilder().setSnapshotter(snapshotter).setKey(key).build());
  }

  /** Every snapshot, across all the streamed messages. */
  List<Info> list(String... filters) {
    List<Info> out = new ArrayList<>();
    Iterator<ListSnapshotsResponse> it = stub().list(ListSnapshotsRequest.newBuilder().setSnapshotter(snapshotter)
        .addAllFilters(List.of(filters)).build());
    while (it.hasNext()) {
      out.addAll(it.next().getInfoList());
    }
    return out;
  }

  /** The status code a call fails with, or null when it succeeds. */
  static Status.Code codeOf(Runnable call) {
    try {
      call.run();
      return null;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }

  @Override
  public void close() {
    channel.close();
  }
}
