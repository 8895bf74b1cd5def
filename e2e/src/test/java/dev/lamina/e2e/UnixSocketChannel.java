package dev.lamina.e2e;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A plaintext gRPC channel to a unix socket (grpc-netty on Netty's epoll domain-socket channel)
 * with an event loop of its own, as containerd, kubelet and crictl connect to lamina.
 */
final class UnixSocketChannel implements AutoCloseable {
  static {
    // grpc-netty sets SO_KEEPALIVE on every channel, which a unix socket does not know: one warning
    // per connection otherwise (the daemon silences the same logger)
    if (System.getProperty("org.slf4j.simpleLogger.log.io.netty.bootstrap") == null) {
      System.setProperty("org.slf4j.simpleLogger.log.io.netty.bootstrap", "error");
    }
  }

  private final EventLoopGroup group;
  private final ManagedChannel channel;

  private UnixSocketChannel(Path socket) {
    group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("e2e-grpc", true), EpollIoHandler.newFactory());
    channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
        .channelType(EpollDomainSocketChannel.class)
        .withOption(io.netty.channel.ChannelOption.SO_KEEPALIVE, null) // a unix socket has no TCP keepalive
        .eventLoopGroup(group)
        .overrideAuthority("localhost")
        .usePlaintext()
        .maxInboundMessageSize(64 << 20)
        .build();
  }

  static UnixSocketChannel open(Path socket) {
    return new UnixSocketChannel(socket);
  }

  ManagedChannel channel() {
    return channel;
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
  }
}
