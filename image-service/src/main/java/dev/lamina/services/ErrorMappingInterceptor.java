package dev.lamina.services;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Maps errors to gRPC statuses at the edge, through {@link GrpcErrors}: a call closed with an
 * UNKNOWN status that carries a cause (what grpc-java makes of {@code onError(someException)}) and
 * any exception escaping a service method both leave with their kind's code. INTERNAL errors are
 * logged with their stack trace; the client sees only the message.
 */
public final class ErrorMappingInterceptor implements ServerInterceptor {
  private static final Logger LOG = LoggerFactory.getLogger(ErrorMappingInterceptor.class);

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    MappingCall<Q, R> mapping = new MappingCall<>(call);
    ServerCall.Listener<Q> delegate;
    try {
      delegate = next.startCall(mapping, headers);
    } catch (RuntimeException e) {
      mapping.fail(e);
      return new ServerCall.Listener<>() {};
    }
    return new SimpleForwardingServerCallListener<>(delegate) {
      @Override
      public void onMessage(Q message) {
        try {
          super.onMessage(message);
        } catch (RuntimeException e) {
          mapping.fail(e);
        }
      }

      @Override
      public void onHalfClose() {
        try {
          super.onHalfClose();
        } catch (RuntimeException e) {
          mapping.fail(e);
        }
      }

      @Override
      public void onReady() {
        try {
          super.onReady();
        } catch (RuntimeException e) {
          mapping.fail(e);
        }
      }
    };
  }

  private static final class MappingCall<Q, R> extends SimpleForwardingServerCall<Q, R> {
    private volatile boolean closed;

    MappingCall(ServerCall<Q, R> delegate) {
      super(delegate);
    }

    @Override
    public void close(Status status, Metadata trailers) {
      Status mapped = status;
      if (status.getCode() == Status.Code.UNKNOWN && status.getCause() != null) {
        mapped = GrpcErrors.toStatus(status.getCause());
      }
      if (mapped.getCode() == Status.Code.INTERNAL && mapped.getCause() != null) {
        LOG.warn("{} failed: {}", getMethodDescriptor().getFullMethodName(), mapped.getDescription(), mapped.getCause());
      }
      closed = true;
      super.close(mapped, trailers);
    }

    void fail(RuntimeException e) {
      if (closed) {
        // typically a call finishing while a shutdown tears the transport down
        LOG.debug("{} threw after closing", getMethodDescriptor().getFullMethodName(), e);
        return;
      }
      try {
        close(GrpcErrors.toStatus(e), new Metadata());
      } catch (IllegalStateException alreadyClosed) {
        LOG.debug("call already closed", alreadyClosed);
      }
    }
  }
}
