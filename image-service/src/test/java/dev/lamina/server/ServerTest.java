package dev.lamina.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.containerd.diff.v1.ApplyRequest;
import dev.lamina.containerd.diff.v1.DiffGrpc;
import dev.lamina.containerd.diff.v1.DiffRequest;
import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotResponse;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.StatSnapshotResponse;
import dev.lamina.containerd.snapshots.v1.UsageRequest;
import dev.lamina.containerd.snapshots.v1.UsageResponse;
import dev.lamina.containerd.types.Descriptor;
import dev.lamina.containerd.types.Mount;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.MediaTypes;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real server on unix sockets in a temp dir, called with grpc-netty over epoll domain sockets. */
class ServerTest {
  @TempDir Path tmp;
  EventLoopGroup clientLoop;
  final List<ManagedChannel> channels = new ArrayList<>();
  final List<Server> servers = new ArrayList<>();

  @BeforeEach
  void loop() {
    clientLoop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
  }

  @AfterEach
  void cleanup() throws Exception {
    for (ManagedChannel c : channels) {
      c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    for (Server s : servers) {
      s.close();
    }
    clientLoop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
  }

  ServerConfig config(SnapshotterKind kind) {
    return ServerConfig.defaults()
        .withRoot(tmp.resolve("state"))
        .withSnapshotterSocket(tmp.resolve("run/lamina/snapshotter.sock"))
        .withCriSocket(tmp.resolve("run/lamina/lamina.sock"))
        .withSnapshotter(kind)
        .withShutdownGrace(Duration.ofSeconds(5));
  }

  Server start(Server s) throws IOException {
    servers.add(s);
    s.start();
    return s;
  }

  ManagedChannel connect(Path socket) {
    ManagedChannel c = UnixSockets.channel(socket, clientLoop);
    channels.add(c);
    return c;
  }

  static void assumeRoot() {
    assumeTrue(Posix.get().isRoot(), "the snapshot mounts of this test need root");
  }

  static Mount proto(String type, String source, List<String> options) {
    return Mount.newBuilder().setType(type).setSource(source).addAllOptions(options).build();
  }

  @Test
  void servesSnapshotsAndDiffOnAUnixSocket() throws Exception {
    assumeRoot();
    ServerConfig config = config(SnapshotterKind.AUTO);
    Server server = start(Server.create(config));
    Path socket = config.snapshotterSocket();

    FileStat st = Posix.get().lstat(socket);
    assertThat(st.type()).isEqualTo(FileStat.S_IFSOCK);
    assertThat(Files.getPosixFilePermissions(socket)).isEqualTo(PosixFilePermissions.fromString("rw-rw----"));
    assertThat(config.criSocket()).doesNotExist();

    ManagedChannel ch = connect(socket);
    assertThat(HealthGrpc.newBlockingStub(ch).check(HealthCheckRequest.getDefaultInstance()).getStatus())
        .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    var snapshots = SnapshotsGrpc.newBlockingStub(ch);
    var diff = DiffGrpc.newBlockingStub(ch);

    // Layer 1: written into an active snapshot, diffed into the content store, committed.
    List<Mount> a = snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("a").build()).getMountsList();
    assertThat(a).hasSize(1);
    Path aDir = Path.of(a.get(0).getSource());
    Files.createDirectories(aDir.resolve("etc"));
    Files.writeString(aDir.resolve("etc/motd"), "hello from lamina\n");
    Descriptor layer = diff.diff(DiffRequest.newBuilder().addAllRight(a).build()).getDiff();
    assertThat(layer.getMediaType()).isEqualTo(MediaTypes.OCI_LAYER_GZIP);
    String hex = layer.getDigest().substring("sha256:".length());
    assertThat(config.root().resolve("content/blobs/sha256").resolve(hex)).exists();
    snapshots.commit(CommitSnapshotRequest.newBuilder().setName("layer-1").setKey("a").build());

    // The same layer applied into a fresh snapshot gives the same tree and diff ID.
    List<Mount> b = snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("b").build()).getMountsList();
    Descriptor applied = diff.apply(ApplyRequest.newBuilder().setDiff(layer).addAllMounts(b).build()).getApplied();
    assertThat(Path.of(b.get(0).getSource()).resolve("etc/motd")).hasContent("hello from lamina");
    assertThat(applied.getMediaType()).isEqualTo(MediaTypes.OCI_LAYER);

    // A child of layer 1: overlay mounts when the snapshotter is overlay, applied into the upper dir.
    List<Mount> c = snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("c").setParent("layer-1").build())
        .getMountsList();
    Descriptor applied2 = diff.apply(ApplyRequest.newBuilder().setDiff(layer).addAllMounts(c).build()).getApplied();
    assertThat(applied2.getDigest()).isEqualTo(applied.getDigest());
    StatSnapshotResponse stat = snapshots.stat(StatSnapshotRequest.newBuilder().setKey("c").build());
    assertThat(stat.getInfo().getParent()).isEqualTo("layer-1");

    assertThatThrownBy(() -> snapshots.stat(StatSnapshotRequest.newBuilder().setKey("missing").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
    assertThatThrownBy(() -> snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("a-again")
        .setParent("missing").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
    assertThat(server.snapshotterName()).isIn("overlay", "copying");

    server.close();
    assertThat(socket).doesNotExist();
    assertThat(Posix.get().lstatIfExists(socket)).isEmpty();
    assertThat(config.root().resolve("content/labels.db")).exists();
  }

  @Test
  void copyingSnapshotterServesWithoutMounting() throws Exception {
    ServerConfig config = config(SnapshotterKind.COPYING);
    Server server = start(Server.create(config));
    assertThat(server.snapshotterName()).isEqualTo("copying");
    var snapshots = SnapshotsGrpc.newBlockingStub(connect(config.snapshotterSocket()));
    List<Mount> m = snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("k").build()).getMountsList();
    assertThat(m.get(0).getType()).isEqualTo("bind");
    var diff = DiffGrpc.newBlockingStub(connect(config.snapshotterSocket()));
    Files.writeString(Path.of(m.get(0).getSource()).resolve("f"), "x");
    Descriptor d = diff.diff(DiffRequest.newBuilder().addAllRight(m).setMediaType(MediaTypes.OCI_LAYER).build())
        .getDiff();
    assertThat(d.getMediaType()).isEqualTo(MediaTypes.OCI_LAYER);
    server.close();
    assertThat(config.snapshotterSocket()).doesNotExist();
  }

  @Test
  void staleSocketIsReplacedAndALiveOneRefused() throws Exception {
    ServerConfig config = config(SnapshotterKind.COPYING);
    Path socket = config.snapshotterSocket();
    Files.createDirectories(socket.getParent());
    // A socket file whose listener is gone, as a killed server leaves it.
    try (ServerSocketChannel dead = ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
      dead.bind(UnixDomainSocketAddress.of(socket));
    }
    assertThat(Posix.get().lstat(socket).type()).isEqualTo(FileStat.S_IFSOCK);
    Server first = start(Server.create(config));
    assertThat(HealthGrpc.newBlockingStub(connect(socket)).check(HealthCheckRequest.getDefaultInstance()).getStatus())
        .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);

    // A second server on the same socket (its own state dir) must not steal it.
    ServerConfig other = config.withRoot(tmp.resolve("state2"));
    Server second = Server.create(other);
    servers.add(second);
    assertThatThrownBy(second::start).isInstanceOfSatisfying(LaminaException.class,
        e -> assertThat(e.kind()).isEqualTo(ErrorKind.FAILED_PRECONDITION));
    assertThat(socket).exists();
    assertThat(HealthGrpc.newBlockingStub(connect(socket)).check(HealthCheckRequest.getDefaultInstance()).getStatus())
        .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    first.close();
    assertThat(socket).doesNotExist();
  }

  @Test
  void somethingElseAtTheSocketPathIsLeftAlone() throws Exception {
    ServerConfig config = config(SnapshotterKind.COPYING);
    Files.createDirectories(config.snapshotterSocket().getParent());
    Files.writeString(config.snapshotterSocket(), "not a socket");
    Server s = Server.create(config);
    servers.add(s);
    assertThatThrownBy(s::start).isInstanceOfSatisfying(LaminaException.class,
        e -> assertThat(e.kind()).isEqualTo(ErrorKind.FAILED_PRECONDITION));
    assertThat(config.snapshotterSocket()).hasContent("not a socket");
  }

  @Test
  void unknownDifferIsRefusedAndNothingStaysOpen() throws Exception {
    ServerConfig c = config(SnapshotterKind.COPYING);
    ServerConfig bad = new ServerConfig(c.root(), c.snapshotterSocket(), c.criSocket(), c.snapshotter(), null,
        List.of("walking", "erofs"), 2, 8, c.shutdownGrace());
    assertThatThrownBy(() -> Server.create(bad)).isInstanceOfSatisfying(LaminaException.class, e -> {
      assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
      assertThat(e.getMessage()).contains("erofs");
    });
    // The snapshot root was closed again: a server on it starts.
    start(Server.create(c));
  }

  /**
   * A Snapshots service whose Usage (a call served on the RPC pool) waits for the test to let it
   * finish, and whose Stat (served on the event loop) answers at once; both note their thread.
   */
  static final class Slow extends SnapshotsGrpc.SnapshotsImplBase {
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    volatile String usageThread;
    volatile String statThread;
    /** Usage's handler has come back from its wait. */
    volatile boolean usageReturned;
    /** Set: usage's wait ignores interrupts (a handler that does not notice its cancellation). */
    volatile boolean deaf;
    volatile String prepareThread;
    volatile String commitThread;
    /** Set: prepare waits for {@link #release} too, holding whatever thread it runs on. */
    volatile boolean slowPrepare;

    @Override
    public void usage(UsageRequest req, StreamObserver<UsageResponse> out) {
      usageThread = Thread.currentThread().getName();
      entered.countDown();
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      boolean interrupted = false;
      while (release.getCount() > 0 && System.nanoTime() < until) {
        try {
          release.await(until - System.nanoTime(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          interrupted = true;
          if (!deaf) {
            break;
          }
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
      usageReturned = true;
      out.onNext(UsageResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void stat(StatSnapshotRequest req, StreamObserver<StatSnapshotResponse> out) {
      statThread = Thread.currentThread().getName();
      out.onNext(StatSnapshotResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void prepare(PrepareSnapshotRequest req, StreamObserver<PrepareSnapshotResponse> out) {
      prepareThread = Thread.currentThread().getName();
      if (slowPrepare) {
        entered.countDown();
        try {
          release.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      out.onNext(PrepareSnapshotResponse.getDefaultInstance());
      out.onCompleted();
    }

    @Override
    public void commit(CommitSnapshotRequest req, StreamObserver<com.google.protobuf.Empty> out) {
      commitThread = Thread.currentThread().getName();
      out.onNext(com.google.protobuf.Empty.getDefaultInstance());
      out.onCompleted();
    }
  }

  /** Only calls that never walk or copy a tree run on the event loop; which ones depends on the snapshotter. */
  @Test
  void callsThatCopyOrWalkRunOnThePoolAndPrepareInlineOnlyWhereItCopiesNothing() throws Exception {
    for (SnapshotterKind kind : List.of(SnapshotterKind.COPYING, SnapshotterKind.OVERLAY)) {
      ServerConfig config = config(SnapshotterKind.COPYING);
      Slow slow = new Slow();
      Server server = start(new Server(config, kind.id(), List.of(), List.of(slow), List.of()));
      var stub = SnapshotsGrpc.newBlockingStub(connect(config.snapshotterSocket()))
          .withDeadlineAfter(10, TimeUnit.SECONDS);
      stub.stat(StatSnapshotRequest.newBuilder().setKey("a").build());
      stub.prepare(PrepareSnapshotRequest.newBuilder().setKey("b").build());
      stub.commit(CommitSnapshotRequest.newBuilder().setKey("b").setName("c").build());
      assertThat(slow.statThread).as(kind.id()).startsWith("lamina-io-snapshots");
      assertThat(slow.commitThread).as("commit measures the upper dir (%s)", kind.id()).startsWith("lamina-rpc");
      assertThat(slow.prepareThread).as("prepare with %s", kind.id())
          .startsWith(kind == SnapshotterKind.OVERLAY ? "lamina-io-snapshots" : "lamina-rpc");
      server.close();
    }
  }

  /** A call that holds the snapshotter socket's event loop does not hold up the CRI socket. */
  @Test
  void eachSocketHasAnEventLoopOfItsOwn() throws Exception {
    ServerConfig config = config(SnapshotterKind.COPYING);
    Slow slow = new Slow();
    slow.slowPrepare = true;
    start(new Server(config, SnapshotterKind.OVERLAY.id(), List.of(), List.of(slow),
        List.of(new dev.lamina.cri.runtime.v1.ImageServiceGrpc.ImageServiceImplBase() {})));
    var inFlight = SnapshotsGrpc.newFutureStub(connect(config.snapshotterSocket()))
        .prepare(PrepareSnapshotRequest.newBuilder().setKey("held").build());
    assertThat(slow.entered.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(slow.prepareThread).startsWith("lamina-io-snapshots");
    HealthCheckResponse r = HealthGrpc.newBlockingStub(connect(config.criSocket()))
        .withDeadlineAfter(5, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
    assertThat(r.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
    assertThat(inFlight).isNotDone();
    slow.release.countDown();
    inFlight.get(10, TimeUnit.SECONDS);
  }

  @Test
  void shortSnapshotCallsRunOnTheEventLoopAndAreNotHeldUpBySlowOnes() throws Exception {
    ServerConfig config = config(SnapshotterKind.COPYING);
    Slow slow = new Slow();
    start(new Server(config, "test", List.of(), List.of(slow), List.of()));
    ManagedChannel channel = connect(config.snapshotterSocket());
    var inFlight = SnapshotsGrpc.newFutureStub(channel).usage(UsageRequest.newBuilder().setKey("x").build());
    assertThat(slow.entered.await(10, TimeUnit.SECONDS)).isTrue();
    // Same connection, while Usage is still running on the pool.
    SnapshotsGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
        .stat(StatSnapshotRequest.newBuilder().setKey("y").build());
    assertThat(inFlight).isNotDone();
    slow.release.countDown();
    inFlight.get(10, TimeUnit.SECONDS);
    assertThat(slow.statThread).startsWith("lamina-io-snapshots");
    assertThat(slow.usageThread).startsWith("lamina-rpc");
  }

  @Test
  void callsBeyondThePoolAndItsQueueFailResourceExhaustedAndTheOthersFinish() throws Exception {
    ServerConfig c = config(SnapshotterKind.COPYING);
    ServerConfig config = new ServerConfig(c.root(), c.snapshotterSocket(), c.criSocket(), c.snapshotter(), null,
        c.differs(), 1, 1, c.shutdownGrace());
    Slow slow = new Slow();
    start(new Server(config, "test", List.of(), List.of(slow), List.of()));
    List<com.google.common.util.concurrent.ListenableFuture<UsageResponse>> calls = new ArrayList<>();
    for (int conn = 0; conn < 2; conn++) {
      var stub = SnapshotsGrpc.newFutureStub(connect(config.snapshotterSocket()));
      for (int i = 0; i < 2; i++) {
        calls.add(stub.usage(UsageRequest.newBuilder().setKey("k" + conn + i).build()));
      }
    }
    assertThat(slow.entered.await(10, TimeUnit.SECONDS)).isTrue();
    // one running, one queued: the other two are refused without waiting for them
    List<Status.Code> refused = new ArrayList<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (refused.size() < 2 && System.nanoTime() < deadline) {
      refused.clear();
      for (var f : calls) {
        if (f.isDone()) {
          try {
            f.get();
          } catch (java.util.concurrent.ExecutionException e) {
            refused.add(Status.fromThrowable(e.getCause()).getCode());
          }
        }
      }
      Thread.sleep(20);
    }
    assertThat(refused).containsExactly(Status.Code.RESOURCE_EXHAUSTED, Status.Code.RESOURCE_EXHAUSTED);
    slow.release.countDown();
    int ok = 0;
    for (var f : calls) {
      try {
        f.get(10, TimeUnit.SECONDS);
        ok++;
      } catch (java.util.concurrent.ExecutionException e) {
        assertThat(Status.fromThrowable(e.getCause()).getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      }
    }
    assertThat(ok).isEqualTo(2);
  }

  @Test
  void shutdownDrainsCallsInFlight() throws Exception {
    ServerConfig config = config(SnapshotterKind.COPYING);
    Slow slow = new Slow();
    Server server = start(new Server(config, "test", List.of(), List.of(slow), List.of()));
    var client = SnapshotsGrpc.newFutureStub(connect(config.snapshotterSocket()));
    var inFlight = client.usage(UsageRequest.newBuilder().setKey("x").build());
    assertThat(slow.entered.await(10, TimeUnit.SECONDS)).isTrue();

    CompletableFuture<Void> closing = CompletableFuture.runAsync(() -> {
      try {
        server.close();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    Thread.sleep(300);
    assertThat(closing).isNotDone();
    // New connections are refused while the old call drains.
    var late = SnapshotsGrpc.newBlockingStub(connect(config.snapshotterSocket())).withDeadlineAfter(2, TimeUnit.SECONDS);
    assertThatThrownBy(() -> late.usage(UsageRequest.newBuilder().setKey("y").build()))
        .isInstanceOf(StatusRuntimeException.class);
    slow.release.countDown();
    assertThat(inFlight.get(10, TimeUnit.SECONDS)).isNotNull();
    closing.get(10, TimeUnit.SECONDS);
    assertThat(config.snapshotterSocket()).doesNotExist();
  }

  @Test
  void shutdownCancelsCallsThatOutliveTheGrace() throws Exception {
    ServerConfig config = config(SnapshotterKind.COPYING).withShutdownGrace(Duration.ofMillis(200));
    Slow slow = new Slow();
    slow.deaf = true;
    Server server = start(new Server(config, "test", List.of(), List.of(slow), List.of()));
    var inFlight = SnapshotsGrpc.newFutureStub(connect(config.snapshotterSocket()))
        .usage(UsageRequest.newBuilder().setKey("x").build());
    assertThat(slow.entered.await(10, TimeUnit.SECONDS)).isTrue();
    CompletableFuture.runAsync(() -> {
      try {
        server.close();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }).get(60, TimeUnit.SECONDS);
    assertThat(slow.usageReturned).as("close returned while the call still held its thread (it was not waited for)")
        .isFalse();
    assertThatThrownBy(() -> inFlight.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(StatusRuntimeException.class);
    slow.release.countDown();
    assertThat(config.snapshotterSocket()).doesNotExist();
  }
}
