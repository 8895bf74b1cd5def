package dev.lamina.cri;

import dev.lamina.api.v1.PullProgress;
import dev.lamina.api.v1.PullRequest;
import dev.lamina.api.v1.PullsGrpc;
import dev.lamina.images.ImageRecord;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.Closeable;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code lamina.v1.Pulls}: a pull that streams its progress, served beside the CRI ImageService
 * for {@code lamina pull}. The pull itself is {@link CriImageService#submitPull}, so it normalizes,
 * authenticates, joins and fails exactly as PullImage does. Each message is the whole state
 * ({@link PullTracker}), sent when it changed and the client can take it, at most every
 * {@link #INTERVAL}: a slow client gets fewer messages, never a queue of them.
 */
public final class PullsService extends PullsGrpc.PullsImplBase implements Closeable {
  static final Duration INTERVAL = Duration.ofMillis(200);

  private final CriImageService cri;
  private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "lamina-pull-progress");
    t.setDaemon(true);
    return t;
  });

  public PullsService(CriImageService cri) {
    this.cri = cri;
  }

  @Override
  public void pull(PullRequest req, StreamObserver<PullProgress> responses) {
    ServerCallStreamObserver<PullProgress> out = (ServerCallStreamObserver<PullProgress>) responses;
    PullTracker tracker = new PullTracker(req.getImage().getImage(), System.nanoTime());
    AtomicBoolean ended = new AtomicBoolean();
    ScheduledFuture<?> ticks = ticker.scheduleWithFixedDelay(() -> {
      synchronized (out) {
        if (!ended.get() && out.isReady()) {
          PullProgress p = tracker.snapshotIfChanged(System.nanoTime());
          if (p != null) {
            out.onNext(p);
          }
        }
      }
    }, INTERVAL.toMillis(), INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    // the client going away ends the stream, not the pull (as with PullImage)
    out.setOnCancelHandler(() -> {
      ended.set(true);
      ticks.cancel(false);
    });
    cri.submitPull(req.getImage().getImage(), req.getAuth(), tracker, new CriImageService.PullCallback() {
      @Override
      public void pulled(ImageRecord image, boolean alreadyPresent) {
        ticks.cancel(false);
        synchronized (out) {
          if (ended.compareAndSet(false, true)) {
            out.onNext(tracker.last(image.id().toString(), alreadyPresent, System.nanoTime()));
            out.onCompleted();
          }
        }
      }

      @Override
      public void failed(Throwable error) {
        ticks.cancel(false);
        synchronized (out) {
          if (ended.compareAndSet(false, true)) {
            out.onError(error);
          }
        }
      }
    });
  }

  @Override
  public void close() {
    ticker.shutdownNow();
  }
}
