package dev.lamina.services;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.StatSnapshotResponse;
import dev.lamina.containerd.snapshots.v1.UsageRequest;
import dev.lamina.containerd.snapshots.v1.UsageResponse;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

class GrpcErrorsTest {
  @ParameterizedTest
  @CsvSource({
    "NOT_FOUND, NOT_FOUND",
    "ALREADY_EXISTS, ALREADY_EXISTS",
    "INVALID_ARGUMENT, INVALID_ARGUMENT",
    "FAILED_PRECONDITION, FAILED_PRECONDITION",
    "UNAVAILABLE, UNAVAILABLE",
    "UNAUTHENTICATED, UNAUTHENTICATED",
    "PERMISSION_DENIED, PERMISSION_DENIED",
    "NOT_IMPLEMENTED, UNIMPLEMENTED",
    "DATA_LOSS, DATA_LOSS",
    "INTERNAL, INTERNAL",
  })
  void eachKindHasOneCode(ErrorKind kind, Status.Code code) {
    Status s = GrpcErrors.toStatus(new LaminaException(kind, "what failed on sha256:abc"));
    assertThat(s.getCode()).isEqualTo(code);
    assertThat(s.getDescription()).isEqualTo("what failed on sha256:abc");
  }

  @ParameterizedTest
  @EnumSource(ErrorKind.class)
  void kindIsFoundThroughWrappers(ErrorKind kind) {
    IOException wrapped = new IOException("context", new LaminaException(kind, "inner"));
    assertThat(GrpcErrors.toStatus(new UncheckedIOException(wrapped)).getCode()).isEqualTo(GrpcErrors.codeOf(kind));
  }

  @org.junit.jupiter.api.Test
  void anythingElseIsInternal() {
    assertThat(GrpcErrors.toStatus(new IllegalStateException("bug")).getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(GrpcErrors.toStatus(Status.ABORTED.asRuntimeException()).getCode()).isEqualTo(Status.Code.ABORTED);
  }

  /** A service that fails the way careless code does: raw exceptions, thrown or passed to onError. */
  static final class Careless extends SnapshotsGrpc.SnapshotsImplBase {
    @Override
    public void stat(StatSnapshotRequest request, StreamObserver<StatSnapshotResponse> out) {
      throw new UncheckedIOException(LaminaException.notFound("snapshot " + request.getKey() + ": not found"));
    }

    @Override
    public void usage(UsageRequest request, StreamObserver<UsageResponse> out) {
      out.onError(new LaminaException(ErrorKind.DATA_LOSS, "usage of " + request.getKey() + " lost"));
    }
  }

  @org.junit.jupiter.api.Test
  void interceptorMapsWhatServicesLetEscape() throws Exception {
    try (InProcess grpc = new InProcess(new Careless())) {
      var client = SnapshotsGrpc.newBlockingStub(grpc.channel);
      assertThatThrownBy(() -> client.stat(StatSnapshotRequest.newBuilder().setKey("k").build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
            assertThat(e.getStatus().getDescription()).isEqualTo("snapshot k: not found");
          });
      assertThatThrownBy(() -> client.usage(UsageRequest.newBuilder().setKey("k").build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DATA_LOSS);
            assertThat(e.getStatus().getDescription()).isEqualTo("usage of k lost");
          });
    }
  }
}
