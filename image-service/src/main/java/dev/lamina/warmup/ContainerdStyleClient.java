package dev.lamina.warmup;

import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufInputStream;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2ConnectionDecoder;
import io.netty.handler.codec.http2.DefaultHttp2ConnectionEncoder;
import io.netty.handler.codec.http2.DefaultHttp2FrameReader;
import io.netty.handler.codec.http2.DefaultHttp2FrameWriter;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.DefaultHttp2LocalFlowController;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.Http2FrameAdapter;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A unary gRPC client that frames its calls the way containerd's proxy plugin (grpc-go) does, for
 * the warm-up. The daemon's real callers are containerd and kubelet, both grpc-go; grpc-java's
 * client differs on the wire (header values without Huffman coding, other headers, no ping after
 * each answer), and code compiled for one shape of traffic is thrown away and compiled again when
 * the other arrives, during the first calls of a freshly started daemon. So this client sends
 * Huffman-coded headers in grpc-go's order, with containerd's namespace header, returns its
 * receive window after every answer and follows it with a ping, as grpc-go's bandwidth estimator
 * does. It is not a general client: one call at a time, no deadlines, no streaming.
 */
final class ContainerdStyleClient implements AutoCloseable {
  /** What grpc-go's bandwidth-delay estimator puts in its pings. */
  private static final long ESTIMATOR_PING = 0x0204_1010_090E_0707L;
  private static final long CALL_TIMEOUT_SECONDS = 30;

  private final Channel channel;
  private final Handler handler;

  private ContainerdStyleClient(Channel channel, Handler handler) {
    this.channel = channel;
    this.handler = handler;
  }

  static ContainerdStyleClient connect(Path socket, EventLoopGroup group) throws IOException {
    Handler handler = Handler.create();
    Bootstrap b = new Bootstrap().group(group).channel(EpollDomainSocketChannel.class)
        .handler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(handler.connection);
          }
        });
    ChannelFuture connected = b.connect(new DomainSocketAddress(socket.toString())).awaitUninterruptibly();
    if (!connected.isSuccess()) {
      throw new IOException("cannot connect to " + socket + ": " + connected.cause().getMessage(), connected.cause());
    }
    return new ContainerdStyleClient(connected.channel(), handler);
  }

  /** One unary call; a status other than OK is thrown as a {@link StatusRuntimeException}. */
  <Q, R> R call(MethodDescriptor<Q, R> method, Q request) throws IOException {
    byte[] body;
    try (InputStream in = method.streamRequest(request)) {
      body = in.readAllBytes();
    }
    CompletableFuture<ByteBuf> answer = new CompletableFuture<>();
    ChannelHandlerContext ctx = channel.pipeline().context(handler.connection);
    channel.eventLoop().execute(() -> handler.send(ctx, method.getFullMethodName(), body, answer));
    ByteBuf message;
    try {
      message = answer.get(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted waiting for " + method.getFullMethodName(), e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof StatusRuntimeException s) {
        throw s;
      }
      throw new IOException(method.getFullMethodName() + " failed: " + e.getCause(), e.getCause());
    } catch (TimeoutException e) {
      throw new IOException(method.getFullMethodName() + " had no answer in " + CALL_TIMEOUT_SECONDS + " s", e);
    }
    try (InputStream in = new ByteBufInputStream(message, true)) {
      return method.parseResponse(in);
    }
  }

  /** Pings the server acknowledged: one per answer, as grpc-go sends them. */
  int pingsAcknowledged() {
    return handler.pingAcks;
  }

  @Override
  public void close() {
    channel.close().syncUninterruptibly();
  }

  /** The connection's frames, all on its event loop. */
  private static final class Handler extends Http2FrameAdapter {
    private final Map<Integer, Call> calls = new HashMap<>();
    private Http2ConnectionHandler connection;
    private DefaultHttp2ConnectionEncoder encoder;
    private int nextStream = 1;
    private boolean pinging;
    private volatile int pingAcks;

    static Handler create() {
      Handler h = new Handler();
      Http2Connection conn = new DefaultHttp2Connection(false);
      // give the window back after every answer of more than a few bytes, as grpc-go does
      conn.local().flowController(new DefaultHttp2LocalFlowController(conn, 0.9999f, true));
      // a Huffman code for every header value it shortens (grpc-java's encoder never uses one)
      h.encoder = new DefaultHttp2ConnectionEncoder(conn,
          new DefaultHttp2FrameWriter(new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, false, 16, 0)));
      DefaultHttp2ConnectionDecoder decoder = new DefaultHttp2ConnectionDecoder(conn, h.encoder, new DefaultHttp2FrameReader());
      h.connection = new Http2ConnectionHandlerBuilder().codec(decoder, h.encoder).frameListener(h).build();
      return h;
    }

    void send(ChannelHandlerContext ctx, String fullMethodName, byte[] body, CompletableFuture<ByteBuf> answer) {
      if (ctx == null || !ctx.channel().isActive()) {
        answer.completeExceptionally(new IOException("connection closed"));
        return;
      }
      int stream = nextStream;
      nextStream += 2;
      calls.put(stream, new Call(answer, ctx.alloc().compositeBuffer()));
      // grpc-go's order: pseudo-headers, content-type, user-agent, te, then the caller's metadata
      Http2Headers headers = new DefaultHttp2Headers()
          .method("POST").scheme("http").path("/" + fullMethodName).authority("localhost")
          .add("content-type", "application/grpc")
          .add("user-agent", "grpc-go/1.51.0")
          .add("te", "trailers")
          .add("containerd-namespace", "k8s.io");
      ByteBuf data = ctx.alloc().buffer(5 + body.length);
      data.writeByte(0).writeInt(body.length).writeBytes(body);
      encoder.writeHeaders(ctx, stream, headers, 0, false, ctx.newPromise());
      encoder.writeData(ctx, stream, data, 0, true, ctx.newPromise()).addListener(f -> {
        if (!f.isSuccess()) {
          fail(stream, f.cause());
        }
      });
      // through the handler: its flush writes what the flow controller holds back
      connection.flush(ctx);
    }

    @Override
    public int onDataRead(ChannelHandlerContext ctx, int streamId, ByteBuf data, int padding, boolean endOfStream) {
      int read = data.readableBytes() + padding;
      Call call = calls.get(streamId);
      if (call != null) {
        call.body.addComponent(true, data.retain());
      }
      if (!pinging) {
        pinging = true;
        encoder.writePing(ctx, false, ESTIMATOR_PING, ctx.newPromise());
        connection.flush(ctx);
      }
      if (endOfStream) {
        finish(streamId);
      }
      return read;
    }

    @Override
    public void onHeadersRead(ChannelHandlerContext ctx, int streamId, Http2Headers headers, int padding,
        boolean endOfStream) {
      Call call = calls.get(streamId);
      if (call != null && call.status == null) {
        CharSequence grpcStatus = headers.get("grpc-status");
        if (grpcStatus != null) {
          Status status = Status.fromCodeValue(Integer.parseInt(grpcStatus.toString()));
          CharSequence message = headers.get("grpc-message");
          call.status = message == null ? status : status.withDescription(message.toString());
        }
      }
      if (endOfStream) {
        finish(streamId);
      }
    }

    @Override
    public void onHeadersRead(ChannelHandlerContext ctx, int streamId, Http2Headers headers, int streamDependency,
        short weight, boolean exclusive, int padding, boolean endOfStream) {
      onHeadersRead(ctx, streamId, headers, padding, endOfStream);
    }

    @Override
    public void onPingAckRead(ChannelHandlerContext ctx, long data) {
      if (data == ESTIMATOR_PING) {
        pinging = false;
        pingAcks++;
      }
    }

    @Override
    public void onRstStreamRead(ChannelHandlerContext ctx, int streamId, long errorCode) {
      fail(streamId, new IOException("stream reset by the server, HTTP/2 error " + errorCode));
    }

    private void fail(int streamId, Throwable cause) {
      Call call = calls.remove(streamId);
      if (call != null) {
        call.body.release();
        call.answer.completeExceptionally(cause);
      }
    }

    private void finish(int streamId) {
      Call call = calls.remove(streamId);
      if (call == null) {
        return;
      }
      Status status = call.status == null ? Status.INTERNAL.withDescription("no grpc-status in the answer") : call.status;
      if (!status.isOk()) {
        call.body.release();
        call.answer.completeExceptionally(status.asRuntimeException(new Metadata()));
        return;
      }
      CompositeByteBuf body = call.body;
      if (body.readableBytes() < 5) {
        body.release();
        call.answer.completeExceptionally(new IOException("answer without a message"));
        return;
      }
      body.skipBytes(1);
      int length = body.readInt();
      if (body.readableBytes() < length) {
        body.release();
        call.answer.completeExceptionally(new IOException("answer shorter than its length prefix"));
        return;
      }
      call.answer.complete(Unpooled.wrappedBuffer(body.readRetainedSlice(length)));
      body.release();
    }
  }

  private static final class Call {
    final CompletableFuture<ByteBuf> answer;
    final CompositeByteBuf body;
    Status status;

    Call(CompletableFuture<ByteBuf> answer, CompositeByteBuf body) {
      this.answer = answer;
      this.body = body;
    }
  }
}
