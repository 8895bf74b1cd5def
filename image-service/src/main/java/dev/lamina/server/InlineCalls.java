package dev.lamina.server;

import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import java.util.Set;
import java.util.concurrent.Executor;

/**
 * Chooses the calls that run on the connection's event loop instead of the RPC pool.
 *
 * <p>containerd calls its proxy snapshotter once per snapshot operation and waits for each answer,
 * so the latency of one short call is what it sees. Handing a call to a pool thread and its
 * answer back to the event loop costs two thread wake-ups, which on an idle node are most of the
 * server's share of that latency. The snapshot operations named here are short and bounded:
 * metadata in one transaction and a few directory operations; commit also measures the upper
 * directory, as containerd's own overlayfs snapshotter does inside its write transaction. Calls
 * that walk or delete whole trees (usage, remove, cleanup), stream (list), or apply layers (diff)
 * stay on the pool, so they never hold up the connection.
 */
final class InlineCalls implements ServerCallExecutorSupplier {
  static final Set<String> METHODS = Set.of(
      SnapshotsGrpc.getStatMethod().getFullMethodName(),
      SnapshotsGrpc.getMountsMethod().getFullMethodName(),
      SnapshotsGrpc.getPrepareMethod().getFullMethodName(),
      SnapshotsGrpc.getViewMethod().getFullMethodName(),
      SnapshotsGrpc.getCommitMethod().getFullMethodName(),
      SnapshotsGrpc.getUpdateMethod().getFullMethodName());

  /** Runs a call's work on the thread that delivers it: the connection's event loop. */
  private static final Executor ON_EVENT_LOOP = Runnable::run;

  static boolean inline(MethodDescriptor<?, ?> method) {
    return METHODS.contains(method.getFullMethodName());
  }

  /** The event loop for the inline calls; null (the server's pool) for every other call. */
  @Override
  public <ReqT, RespT> Executor getExecutor(ServerCall<ReqT, RespT> call, Metadata headers) {
    return inline(call.getMethodDescriptor()) ? ON_EVENT_LOOP : null;
  }
}
