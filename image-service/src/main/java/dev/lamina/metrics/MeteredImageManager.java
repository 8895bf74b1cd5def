package dev.lamina.metrics;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.FilesystemUsage;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageRecord;
import dev.lamina.images.PullListener;
import dev.lamina.remotes.auth.Credentials;
import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An {@link ImageManager} whose pulls are counted in {@link LaminaMetrics}: outcome, duration,
 * bytes downloaded and skipped, layers fetched and reused, each layer's time. A pull that joins
 * one in flight sees the same layer events; a fetched layer is counted once however many pulls
 * watch it.
 */
final class MeteredImageManager implements ImageManager, Closeable {
  private final ImageManager delegate;
  private final LaminaMetrics metrics;
  /** Layers being fetched by any pull: when the first byte came, and how many were counted. */
  private final Map<Digest, LayerProgress> layers = new ConcurrentHashMap<>();

  private static final class LayerProgress {
    final long start = System.nanoTime();
    long counted;
  }

  MeteredImageManager(ImageManager delegate, LaminaMetrics metrics) {
    this.delegate = delegate;
    this.metrics = metrics;
  }

  @Override
  public ImageRecord pull(String reference, Credentials credentials, PullListener listener) throws IOException {
    PullListener inner = listener == null ? PullListener.NONE : listener;
    AtomicLong downloaded = new AtomicLong();
    long start = System.nanoTime();
    metrics.pullStarted();
    String outcome = "success";
    try {
      return delegate.pull(reference, credentials, PullListener.both(new Counting(downloaded), inner));
    } catch (IOException | RuntimeException | Error e) {
      outcome = LaminaException.kindOf(e).name().toLowerCase(Locale.ROOT);
      throw e;
    } finally {
      metrics.pullFinished(outcome, System.nanoTime() - start, downloaded.get());
    }
  }

  /** Counts a pull's layer events. */
  private final class Counting implements PullListener {
    private final AtomicLong downloaded;

    Counting(AtomicLong downloaded) {
      this.downloaded = downloaded;
    }

    @Override
    public void layerProgress(Digest layer, long done, long total) {
      LayerProgress p = layers.computeIfAbsent(layer, d -> new LayerProgress());
      long delta;
      synchronized (p) {
        delta = Math.max(0, done - p.counted);
        p.counted = Math.max(p.counted, done);
      }
      if (delta > 0) {
        metrics.downloaded(delta);
        downloaded.addAndGet(delta);
      }
    }

    @Override
    public void layerDone(Digest layer, boolean reused) {
      if (!reused) {
        LayerProgress p = layers.remove(layer);
        if (p != null) {
          metrics.layerFetched(System.nanoTime() - p.start);
        }
      }
    }

    @Override
    public void layerSkipped(Digest layer, long size) {
      metrics.layerReused(size);
    }
  }

  @Override
  public List<ImageRecord> list() throws IOException {
    return delegate.list();
  }

  @Override
  public Optional<ImageRecord> find(String idOrReference) throws IOException {
    return delegate.find(idOrReference);
  }

  @Override
  public void remove(String idOrReference) throws IOException {
    delegate.remove(idOrReference);
  }

  @Override
  public FilesystemUsage usage() throws IOException {
    return delegate.usage();
  }

  @Override
  public void collectGarbage() throws IOException {
    delegate.collectGarbage();
  }

  @Override
  public void close() throws IOException {
    if (delegate instanceof Closeable c) {
      c.close();
    }
  }
}
