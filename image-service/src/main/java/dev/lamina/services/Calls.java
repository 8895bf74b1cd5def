package dev.lamina.services;

import io.grpc.stub.StreamObserver;
import java.io.IOException;

/**
 * Runs the body of a unary RPC and answers with its value or its error, as it is: {@link
 * ErrorMappingInterceptor} gives it its gRPC status, the one place errors are mapped.
 */
final class Calls {
  private Calls() {}

  @FunctionalInterface
  interface Body<T> {
    T run() throws IOException;
  }

  static <T> void unary(StreamObserver<T> observer, Body<T> body) {
    T value;
    try {
      value = body.run();
    } catch (IOException | RuntimeException e) {
      observer.onError(e);
      return;
    }
    observer.onNext(value);
    observer.onCompleted();
  }
}
