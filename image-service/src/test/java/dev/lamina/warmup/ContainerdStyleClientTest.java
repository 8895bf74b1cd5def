package dev.lamina.warmup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.MountsRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.lamina.server.UnixSockets;
import dev.lamina.services.ErrorMappingInterceptor;
import dev.lamina.services.SnapshotsService;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The warm-up's grpc-go-shaped client against the daemon's own kind of server. */
class ContainerdStyleClientTest {
  private static final Metadata.Key<String> NAMESPACE = Metadata.Key.of("containerd-namespace", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> USER_AGENT = Metadata.Key.of("user-agent", Metadata.ASCII_STRING_MARSHALLER);

  @TempDir Path dir;
  private EventLoopGroup group;
  private Snapshotter snapshotter;
  private io.grpc.Server server;
  private final List<Metadata> seen = new CopyOnWriteArrayList<>();

  @BeforeEach
  void serve() throws Exception {
    group = new MultiThreadIoEventLoopGroup(2, EpollIoHandler.newFactory());
    snapshotter = CopyingSnapshotter.open(dir.resolve("root"));
    ServerInterceptor record = new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        seen.add(headers);
        return next.startCall(call, headers);
      }
    };
    server = UnixSockets.serverBuilder(dir.resolve("s.sock"), group, group)
        .directExecutor()
        .addService(ServerInterceptors.intercept(new SnapshotsService(snapshotter, null), new ErrorMappingInterceptor(), record))
        .build()
        .start();
  }

  @AfterEach
  void stop() throws Exception {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    snapshotter.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
  }

  @Test
  void unaryCallsGetTheServersAnswersAndEachAnswerIsFollowedByAPing() throws Exception {
    try (ContainerdStyleClient c = ContainerdStyleClient.connect(dir.resolve("s.sock"), group)) {
      var prepared = c.call(SnapshotsGrpc.getPrepareMethod(), PrepareSnapshotRequest.newBuilder().setKey("a").build());
      assertThat(prepared.getMountsList()).singleElement().satisfies(m -> assertThat(m.getType()).isEqualTo("bind"));
      c.call(SnapshotsGrpc.getCommitMethod(), CommitSnapshotRequest.newBuilder().setName("c").setKey("a").build());
      c.call(SnapshotsGrpc.getViewMethod(), ViewSnapshotRequest.newBuilder().setKey("v").setParent("c").build());
      var mounts = c.call(SnapshotsGrpc.getMountsMethod(), MountsRequest.newBuilder().setKey("v").build());
      assertThat(mounts.getMountsList().get(0).getOptionsList()).contains("ro");
      var info = c.call(SnapshotsGrpc.getStatMethod(), StatSnapshotRequest.newBuilder().setKey("c").build()).getInfo();
      assertThat(info.getName()).isEqualTo("c");
      assertThat(info.getKindValue()).isEqualTo(dev.lamina.containerd.snapshots.v1.Kind.COMMITTED_VALUE);

      // each answer's ping is acknowledged by the time the next call is answered; the last may still be on its way
      assertThat(c.pingsAcknowledged()).isGreaterThanOrEqualTo(4);
    }
    assertThat(seen).hasSize(5).allSatisfy(h -> {
      assertThat(h.get(NAMESPACE)).isEqualTo("k8s.io");
      assertThat(h.get(USER_AGENT)).startsWith("grpc-go/");
    });
  }

  @Test
  void aStatusOtherThanOkIsThrownWithItsMessage() throws Exception {
    try (ContainerdStyleClient c = ContainerdStyleClient.connect(dir.resolve("s.sock"), group)) {
      c.call(SnapshotsGrpc.getPrepareMethod(), PrepareSnapshotRequest.newBuilder().setKey("a").build());
      assertThatThrownBy(() -> c.call(SnapshotsGrpc.getPrepareMethod(), PrepareSnapshotRequest.newBuilder().setKey("a").build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.ALREADY_EXISTS);
            assertThat(e.getStatus().getDescription()).contains("\"a\"");
          });
      // the connection goes on after a failed call
      assertThat(c.call(SnapshotsGrpc.getStatMethod(), StatSnapshotRequest.newBuilder().setKey("a").build()).getInfo().getName())
          .isEqualTo("a");
    }
  }

  @Test
  void aServerThatIsNotThereIsAClearError() {
    assertThatThrownBy(() -> ContainerdStyleClient.connect(dir.resolve("missing.sock"), group))
        .isInstanceOf(java.io.IOException.class)
        .hasMessageContaining("missing.sock");
  }
}
