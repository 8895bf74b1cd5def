package dev.lamina.metrics;

import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Locale;

/**
 * Times every call of containerd's Snapshots API from its arrival to its status, by operation
 * ({@code prepare}, {@code commit}, ...) and gRPC code. Installed on the server ahead of the
 * services' own interceptors, so the time includes a wait for a pool thread and the status is
 * the one the caller gets. Other services pass untouched.
 */
final class SnapshotCallsInterceptor implements ServerInterceptor {
  private final LaminaMetrics metrics;

  SnapshotCallsInterceptor(LaminaMetrics metrics) {
    this.metrics = metrics;
  }

  @Override
  public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
      ServerCallHandler<Q, A> next) {
    if (!SnapshotsGrpc.SERVICE_NAME.equals(call.getMethodDescriptor().getServiceName())) {
      return next.startCall(call, headers);
    }
    long start = System.nanoTime();
    String operation = call.getMethodDescriptor().getBareMethodName().toLowerCase(Locale.ROOT);
    return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        metrics.snapshotOperation(operation, status.getCode().name(), System.nanoTime() - start);
        super.close(status, trailers);
      }
    }, headers);
  }
}
