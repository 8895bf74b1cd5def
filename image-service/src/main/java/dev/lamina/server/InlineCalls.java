package dev.lamina.server;

import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import io.grpc.Context;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthGrpc;
import java.util.ArrayDeque;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decides where a call runs, on a server built with a direct executor: the short snapshot calls
 * on the connection's event loop, every other call on the RPC pool.
 *
 * <p>containerd calls its proxy snapshotter once per snapshot operation and waits for each answer,
 * so the latency of one short call is what it sees. Handing a call to a pool thread and its
 * answer back to the event loop costs two thread wake-ups, which on an idle node are most of the
 * server's share of that latency. (gRPC's own per-call executor choice still looks the method up
 * on the pool, so it saves nothing; hence a direct executor and this interceptor.) Only calls
 * that never walk or copy a tree run inline: stat, mounts and update (metadata in one
 * transaction), and prepare and view where they are a few directory operations (overlay; the
 * copying snapshotter copies the parent's tree). Commit measures the upper directory, usage,
 * remove and cleanup walk or delete trees, list streams, diff applies layers and the CRI calls
 * pull images: all of them run on the pool, so they never hold up a connection's other calls.
 */
public final class InlineCalls implements ServerInterceptor {
  private static final Logger LOG = LoggerFactory.getLogger(InlineCalls.class);
  /** Inline whatever the snapshotter. */
  static final Set<String> METADATA_ONLY = Set.of(
      SnapshotsGrpc.getStatMethod().getFullMethodName(),
      SnapshotsGrpc.getMountsMethod().getFullMethodName(),
      SnapshotsGrpc.getUpdateMethod().getFullMethodName(),
      HealthGrpc.getCheckMethod().getFullMethodName());
  /** Inline when the snapshotter makes a new snapshot without copying its parent. */
  static final Set<String> NEW_SNAPSHOT = Set.of(
      SnapshotsGrpc.getPrepareMethod().getFullMethodName(),
      SnapshotsGrpc.getViewMethod().getFullMethodName());

  private final Executor pool;
  private final Semaphore admitted;
  private final boolean snapshotsCopy;

  /**
   * Calls not run inline go to {@code pool}, at most {@code maxCalls} of them at a time (running or
   * waiting for a thread); one more fails at once with RESOURCE_EXHAUSTED. The pool must accept
   * {@code maxCalls} tasks: each admitted call has at most one waiting.
   *
   * @param snapshotsCopy prepare and view copy the parent's tree (the copying snapshotter)
   */
  public InlineCalls(Executor pool, int maxCalls, boolean snapshotsCopy) {
    this.pool = pool;
    this.admitted = new Semaphore(maxCalls);
    this.snapshotsCopy = snapshotsCopy;
  }

  boolean inline(MethodDescriptor<?, ?> method) {
    String name = method.getFullMethodName();
    return METADATA_ONLY.contains(name) || (!snapshotsCopy && NEW_SNAPSHOT.contains(name));
  }

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
      ServerCallHandler<ReqT, RespT> next) {
    if (inline(call.getMethodDescriptor())) {
      return next.startCall(call, headers);
    }
    if (!admitted.tryAcquire()) {
      call.close(Status.RESOURCE_EXHAUSTED.withDescription("server busy: too many calls in progress; retry later"),
          new Metadata());
      return new ServerCall.Listener<>() {};
    }
    try {
      return new OnPool<>(next.startCall(call, headers), new Serial(pool), Context.current(), call, admitted);
    } catch (RuntimeException | Error e) {
      admitted.release();
      throw e;
    }
  }

  /** Forwards a call's events, in order, to a pool thread, in the call's context. */
  private static final class OnPool<ReqT> extends ForwardingServerCallListener.SimpleForwardingServerCallListener<ReqT> {
    private final Serial serial;
    private final Context context;
    private final ServerCall<ReqT, ?> call;
    private final Semaphore admitted;
    private final AtomicBoolean ended = new AtomicBoolean();

    OnPool(ServerCall.Listener<ReqT> delegate, Serial serial, Context context, ServerCall<ReqT, ?> call,
        Semaphore admitted) {
      super(delegate);
      this.serial = serial;
      this.context = context;
      this.call = call;
      this.admitted = admitted;
    }

    /** After the call's last event: its place goes to the next call. */
    private void end() {
      if (ended.compareAndSet(false, true)) {
        admitted.release();
      }
    }

    private void later(Runnable event) {
      later(event, false);
    }

    private void later(Runnable event, boolean last) {
      try {
        serial.execute(context.wrap(() -> {
          try {
            event.run();
          } catch (RuntimeException | Error e) {
            // as gRPC does for a listener that throws: the call fails, the server goes on
            try {
              call.close(Status.fromThrowable(e), new Metadata());
            } catch (IllegalStateException alreadyClosed) {
              e.addSuppressed(alreadyClosed);
            }
            LOG.warn("call {} failed", call.getMethodDescriptor().getFullMethodName(), e);
          } finally {
            if (last) {
              end();
            }
          }
        }));
      } catch (RejectedExecutionException e) {
        // the pool is shutting down
        end();
        try {
          call.close(Status.UNAVAILABLE.withDescription("server is shutting down"), new Metadata());
        } catch (IllegalStateException alreadyClosed) {
          // nothing left to tell the client
        }
      }
    }

    @Override
    public void onMessage(ReqT message) {
      later(() -> super.onMessage(message));
    }

    @Override
    public void onHalfClose() {
      later(super::onHalfClose);
    }

    @Override
    public void onCancel() {
      later(super::onCancel, true);
    }

    @Override
    public void onComplete() {
      later(super::onComplete, true);
    }

    @Override
    public void onReady() {
      later(super::onReady);
    }
  }

  /** Runs tasks one after another, in submission order, on threads of a pool. */
  static final class Serial implements Executor {
    private final Executor pool;
    private final ArrayDeque<Runnable> tasks = new ArrayDeque<>();
    private boolean draining;

    Serial(Executor pool) {
      this.pool = pool;
    }

    @Override
    public void execute(Runnable task) {
      synchronized (this) {
        tasks.add(task);
        if (draining) {
          return;
        }
        draining = true;
      }
      try {
        pool.execute(this::drain);
      } catch (RejectedExecutionException e) {
        synchronized (this) {
          tasks.clear();
          draining = false;
        }
        throw e;
      }
    }

    private void drain() {
      while (true) {
        Runnable next;
        synchronized (this) {
          next = tasks.poll();
          if (next == null) {
            draining = false;
            return;
          }
        }
        next.run();
      }
    }
  }
}
