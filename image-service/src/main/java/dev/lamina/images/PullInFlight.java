package dev.lamina.images;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;

/** A pull in flight, which later pulls of the same reference join. */
final class PullInFlight {
  /** What the pull resolved to, replayed to a listener that joins later. */
  private record Resolved(String reference, Digest manifest, List<Descriptor> layers, int committed) {
    void tell(PullListener l) {
      l.resolved(reference, manifest, layers, committed);
    }
  }

  final CompletableFuture<ImageRecord> result = new CompletableFuture<>();
  final List<PullListener> listeners = new CopyOnWriteArrayList<>();
  // guarded by this
  private Resolved resolved;

  /** Adds a listener of a pull already running; it hears the resolution exactly once. */
  void listen(PullListener l) {
    Resolved known;
    synchronized (this) {
      listeners.add(l);
      known = resolved;
    }
    if (known != null) {
      known.tell(l);
    }
  }

  final PullListener fanOut = new PullListener() {
    @Override
    public void resolved(String reference, Digest manifest, List<Descriptor> layers, int committed) {
      Resolved r = new Resolved(reference, manifest, List.copyOf(layers), committed);
      List<PullListener> now;
      synchronized (PullInFlight.this) {
        resolved = r;
        now = List.copyOf(listeners);
      }
      for (PullListener l : now) {
        r.tell(l);
      }
    }

    @Override
    public void layerProgress(Digest layer, long done, long total) {
      for (PullListener l : listeners) {
        l.layerProgress(layer, done, total);
      }
    }

    @Override
    public void layerDone(Digest layer, boolean reused) {
      for (PullListener l : listeners) {
        l.layerDone(layer, reused);
      }
    }

    @Override
    public void layerSkipped(Digest layer, long size) {
      for (PullListener l : listeners) {
        l.layerSkipped(layer, size);
      }
    }
  };

  /** Waits for the pull's result, as a pull that joined it. */
  ImageRecord await(String key) throws IOException {
    try {
      return result.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for the pull of " + key);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof LaminaException le) {
        throw new LaminaException(le.kind(), le.getMessage(), le);
      }
      throw new LaminaException(LaminaException.kindOf(cause), "pull " + key + ": " + cause, cause);
    }
  }
}
