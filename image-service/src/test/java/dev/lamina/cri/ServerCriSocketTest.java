package dev.lamina.cri;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.server.UnixSockets;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.cri.runtime.v1.ImageServiceGrpc;
import dev.lamina.server.Server;
import dev.lamina.server.ServerConfig;
import dev.lamina.server.SnapshotterKind;
import io.grpc.ManagedChannel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.io.Closeable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The composition root serves the CRI ImageService on the CRI socket when it is given an image manager. */
class ServerCriSocketTest {
  @TempDir Path tmp;

  ServerConfig config() {
    return ServerConfig.defaults()
        .withRoot(tmp.resolve("state"))
        .withSnapshotterSocket(tmp.resolve("run/snapshotter.sock"))
        .withCriSocket(tmp.resolve("run/lamina.sock"))
        .withSnapshotter(SnapshotterKind.COPYING)
        .withShutdownGrace(Duration.ofSeconds(1));
  }

  /** An image manager the server must close. */
  static final class ClosingManager implements Closeable, dev.lamina.images.ImageManager {
    final FakeImageManager delegate = new FakeImageManager();
    final AtomicBoolean closed = new AtomicBoolean();

    @Override
    public void close() {
      closed.set(true);
    }

    @Override
    public dev.lamina.images.ImageRecord pull(String r, dev.lamina.remotes.auth.Credentials c,
        dev.lamina.images.PullListener l) throws java.io.IOException {
      return delegate.pull(r, c, l);
    }

    @Override
    public java.util.List<dev.lamina.images.ImageRecord> list() throws java.io.IOException {
      return delegate.list();
    }

    @Override
    public java.util.Optional<dev.lamina.images.ImageRecord> find(String s) throws java.io.IOException {
      return delegate.find(s);
    }

    @Override
    public void remove(String s) throws java.io.IOException {
      delegate.remove(s);
    }

    @Override
    public dev.lamina.images.FilesystemUsage usage() throws java.io.IOException {
      return delegate.usage();
    }

    @Override
    public void collectGarbage() throws java.io.IOException {
      delegate.collectGarbage();
    }
  }

  @Test
  void criSocketServesTheImageServiceAndClosesTheManager() throws Exception {
    ClosingManager manager = new ClosingManager();
    manager.delegate.add(Images.image("busybox", "", 10, "docker.io/library/busybox:latest"));
    ServerConfig config = config();
    Server server = Server.create(config, (c, snapshotter, content) -> manager);
    EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    try {
      server.start();
      assertThat(Files.exists(config.criSocket())).isTrue();
      ManagedChannel channel = UnixSockets.channel(config.criSocket(), loop);
      try {
        var cri = ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        assertThat(cri.listImages(Api.ListImagesRequest.getDefaultInstance()).getImagesList())
            .extracting(Api.Image::getRepoTagsList).hasSize(1);
        assertThat(cri.imageStatus(Api.ImageStatusRequest.newBuilder()
            .setImage(Api.ImageSpec.newBuilder().setImage("busybox")).build()).hasImage()).isTrue();
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    } finally {
      server.close();
      loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
    assertThat(manager.closed).isTrue();
    assertThat(Files.exists(config.criSocket())).as("socket removed").isFalse();
  }

  @Test
  void withoutAnImageManagerTheCriSocketIsNotOpened() throws Exception {
    ServerConfig config = config();
    try (Server server = Server.create(config)) {
      server.start();
      assertThat(Files.exists(config.snapshotterSocket())).isTrue();
      assertThat(Files.exists(config.criSocket())).isFalse();
    }
  }
}
