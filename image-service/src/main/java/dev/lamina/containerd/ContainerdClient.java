package dev.lamina.containerd;

import dev.lamina.containerd.content.v1.ContentGrpc;
import dev.lamina.containerd.events.v1.EventsGrpc;
import dev.lamina.containerd.images.v1.ImagesGrpc;
import dev.lamina.containerd.leases.v1.LeasesGrpc;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.tasks.v1.TasksGrpc;
import dev.lamina.server.UnixSockets;
import io.grpc.ClientInterceptor;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * containerd's gRPC API on its unix socket, in one namespace: every call carries the {@code
 * containerd-namespace} header, and those made through {@link #withLease} the {@code
 * containerd-lease} header too, as containerd's Go client sends them. The channel reconnects by
 * itself when containerd restarts; a call while it is down fails at once with UNAVAILABLE.
 */
public final class ContainerdClient implements AutoCloseable {
  static final Metadata.Key<String> NAMESPACE_HEADER =
      Metadata.Key.of("containerd-namespace", Metadata.ASCII_STRING_MARSHALLER);
  static final Metadata.Key<String> LEASE_HEADER = Metadata.Key.of("containerd-lease", Metadata.ASCII_STRING_MARSHALLER);
  /** Every call's deadline: containerd answers these from its metadata store. */
  static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

  private final Path socket;
  private final String namespace;
  private final EventLoopGroup loop;
  private final ManagedChannel channel;
  private final Calls calls;

  private ContainerdClient(Path socket, String namespace) {
    this.socket = socket;
    this.namespace = namespace;
    this.loop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("lamina-containerd-io", true),
        EpollIoHandler.newFactory());
    this.channel = UnixSockets.channel(socket, loop);
    this.calls = new Calls(headers(null));
  }

  /** A client of containerd at {@code socket}; connects on the first call. */
  public static ContainerdClient connect(Path socket, String namespace) {
    return new ContainerdClient(socket, namespace);
  }

  public Path socket() {
    return socket;
  }

  public String namespace() {
    return namespace;
  }

  /** Calls in the namespace. */
  public Calls calls() {
    return calls;
  }

  /** Calls in the namespace whose effects the lease {@code leaseId} holds (content, snapshots). */
  public Calls withLease(String leaseId) {
    return new Calls(headers(leaseId));
  }

  private ClientInterceptor headers(String lease) {
    Metadata h = new Metadata();
    h.put(NAMESPACE_HEADER, namespace);
    if (lease != null) {
      h.put(LEASE_HEADER, lease);
    }
    return MetadataUtils.newAttachHeadersInterceptor(h);
  }

  /** The stubs of the services lamina uses, each call with {@link #CALL_TIMEOUT}. */
  public final class Calls {
    private final ClientInterceptor headers;

    private Calls(ClientInterceptor headers) {
      this.headers = headers;
    }

    private <S extends AbstractStub<S>> S timed(S stub) {
      return stub.withInterceptors(headers).withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    public ContentGrpc.ContentBlockingStub content() {
      return timed(ContentGrpc.newBlockingStub(channel));
    }

    /** For Write, a client stream. */
    public ContentGrpc.ContentStub contentStreams() {
      return timed(ContentGrpc.newStub(channel));
    }

    public ImagesGrpc.ImagesBlockingStub images() {
      return timed(ImagesGrpc.newBlockingStub(channel));
    }

    public LeasesGrpc.LeasesBlockingStub leases() {
      return timed(LeasesGrpc.newBlockingStub(channel));
    }

    public SnapshotsGrpc.SnapshotsBlockingStub snapshots() {
      return timed(SnapshotsGrpc.newBlockingStub(channel));
    }

    public TasksGrpc.TasksBlockingStub tasks() {
      return timed(TasksGrpc.newBlockingStub(channel));
    }

    /** Without a deadline: a subscription lasts until cancelled. */
    public EventsGrpc.EventsStub events() {
      return EventsGrpc.newStub(channel).withInterceptors(headers);
    }
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
  }
}
