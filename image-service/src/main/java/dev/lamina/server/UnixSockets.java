package dev.lamina.server;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.Set;

/**
 * gRPC over unix sockets (grpc-netty on epoll), and preparing and tidying the files of listening
 * sockets.
 */
public final class UnixSockets {
  /** What {@code sun_path} holds, less the terminating NUL. */
  static final int MAX_PATH = 107;
  static final Set<PosixFilePermission> SOCKET_MODE = PosixFilePermissions.fromString("rw-rw----");
  private static final Set<PosixFilePermission> DIR_MODE = PosixFilePermissions.fromString("rwx--x--x");

  private UnixSockets() {}

  /**
   * Netty's adaptive read buffer, but never below 1 KiB: left to itself it shrinks to 64 bytes
   * between small calls, and then reads a 70-byte snapshot request in two system calls and two
   * passes through the HTTP/2 decoder.
   */
  static final int MIN_READ_BUFFER = 1024;

  /** A gRPC server builder for {@code socket}, its connections accepted and served on the groups. */
  public static NettyServerBuilder serverBuilder(Path socket, EventLoopGroup boss, EventLoopGroup workers) {
    return NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
        .channelType(EpollServerDomainSocketChannel.class)
        .bossEventLoopGroup(boss)
        .workerEventLoopGroup(workers)
        .withChildOption(ChannelOption.RCVBUF_ALLOCATOR, new AdaptiveRecvByteBufAllocator(MIN_READ_BUFFER, 2048, 65536))
        // grpc-netty asks for TCP keepalive on every connection; a unix socket has none (null unsets it)
        .withChildOption(ChannelOption.SO_KEEPALIVE, null);
  }

  /** A plaintext gRPC channel to {@code socket}, on {@code loop}; replies up to 64 MiB. */
  public static ManagedChannel channel(Path socket, EventLoopGroup loop) {
    return NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
        .channelType(EpollDomainSocketChannel.class)
        .withOption(ChannelOption.SO_KEEPALIVE, null) // see serverBuilder
        .eventLoopGroup(loop)
        .usePlaintext()
        .maxInboundMessageSize(64 << 20)
        .build();
  }

  /**
   * Makes {@code socket} bindable: creates its directory (0711) when missing and removes a stale
   * socket file left by a server that died. Refuses when something else is at that path, or a
   * live server still listens on it.
   */
  static void prepare(Path socket) throws IOException {
    if (socket.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_PATH) {
      throw LaminaException.invalidArgument("socket path " + socket + " is longer than " + MAX_PATH + " bytes");
    }
    Path dir = socket.getParent();
    if (!Files.isDirectory(dir)) {
      createDirectories(dir, "socket directory");
      Files.setPosixFilePermissions(dir, DIR_MODE);
    }
    Optional<FileStat> st = Posix.get().lstatIfExists(socket);
    if (st.isEmpty()) {
      return;
    }
    if (st.get().type() != FileStat.S_IFSOCK) {
      throw LaminaException.failedPrecondition(socket + " exists and is not a socket; not replacing it");
    }
    if (listening(socket)) {
      throw LaminaException.failedPrecondition("another server is listening on " + socket);
    }
    Files.deleteIfExists(socket);
  }

  /** {@code Files.createDirectories}, failing with a message that says what the directory is for. */
  static void createDirectories(Path dir, String what) throws IOException {
    try {
      Files.createDirectories(dir);
    } catch (java.nio.file.AccessDeniedException e) {
      throw new LaminaException(dev.lamina.errdefs.ErrorKind.PERMISSION_DENIED,
          "cannot create " + what + " " + dir + ": permission denied at " + e.getFile(), e);
    } catch (java.nio.file.FileSystemException e) {
      throw new IOException("cannot create " + what + " " + dir + ": " + e.getMessage(), e);
    }
  }

  static boolean listening(Path socket) {
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      return true;
    } catch (IOException refused) {
      return false;
    }
  }

  /** After bind: only owner and group may connect. */
  static void restrict(Path socket) throws IOException {
    Files.setPosixFilePermissions(socket, SOCKET_MODE);
  }

  /** Removes the socket file if it is (still) a socket. */
  static void remove(Path socket) throws IOException {
    Optional<FileStat> st = Posix.get().lstatIfExists(socket);
    if (st.isPresent() && st.get().type() == FileStat.S_IFSOCK) {
      Files.deleteIfExists(socket);
    }
  }
}
