package dev.lamina.cri;

import dev.lamina.api.v1.LayerProgress;
import dev.lamina.api.v1.PullProgress;
import dev.lamina.digest.Digest;
import dev.lamina.images.PullListener;
import dev.lamina.oci.Descriptor;
import java.util.ArrayList;
import java.util.List;

/**
 * The state of one pull as {@code lamina.v1.PullProgress} messages: a listener of the pull on one
 * side, whole snapshots on the other. A listener that joined a pull in flight may have missed
 * layer events; the last message says every layer is done, whatever was heard.
 */
final class PullTracker implements PullListener {
  private static final class Layer {
    final Digest digest;
    final long size;
    long downloaded;
    LayerProgress.State state = LayerProgress.State.WAITING;

    Layer(Digest digest, long size) {
      this.digest = digest;
      this.size = size;
    }
  }

  private final String reference;
  private final long startNanos;
  // guarded by this
  private String resolvedReference;
  private String manifest = "";
  private final List<Layer> layers = new ArrayList<>();
  private boolean changed = true;

  PullTracker(String reference, long startNanos) {
    this.reference = reference;
    this.startNanos = startNanos;
  }

  @Override
  public synchronized void resolved(String reference, Digest manifest, List<Descriptor> layers, int committed) {
    if (!this.manifest.isEmpty()) {
      return;
    }
    this.resolvedReference = reference;
    this.manifest = manifest.toString();
    for (int i = 0; i < layers.size(); i++) {
      Layer l = new Layer(layers.get(i).digest(), layers.get(i).size());
      if (i < committed) {
        l.state = LayerProgress.State.REUSED;
      }
      this.layers.add(l);
    }
    changed = true;
  }

  @Override
  public synchronized void layerProgress(Digest layer, long done, long total) {
    for (Layer l : layers) {
      if (l.digest.equals(layer) && (l.state == LayerProgress.State.WAITING || l.state == LayerProgress.State.DOWNLOADING)) {
        l.downloaded = Math.max(l.downloaded, Math.min(done, l.size));
        l.state = l.downloaded >= l.size ? LayerProgress.State.UNPACKING : LayerProgress.State.DOWNLOADING;
        changed = true;
      }
    }
  }

  @Override
  public synchronized void layerDone(Digest layer, boolean reused) {
    for (Layer l : layers) {
      if (l.digest.equals(layer) && l.state != LayerProgress.State.REUSED && l.state != LayerProgress.State.DONE) {
        // another pull may have committed the same layer meanwhile: then nothing came for this one
        l.state = reused && l.downloaded == 0 ? LayerProgress.State.REUSED : LayerProgress.State.DONE;
        if (l.state == LayerProgress.State.DONE) {
          l.downloaded = l.size;
        }
        changed = true;
      }
    }
  }

  @Override
  public synchronized void layerSkipped(Digest layer, long size) {
    for (Layer l : layers) {
      if (l.digest.equals(layer) && l.state == LayerProgress.State.WAITING) {
        l.state = LayerProgress.State.REUSED;
        changed = true;
      }
    }
  }

  /** The state now, or null when nothing changed since the last message. */
  synchronized PullProgress snapshotIfChanged(long nowNanos) {
    if (!changed) {
      return null;
    }
    changed = false;
    return build(nowNanos).build();
  }

  /** The last message: the image ID, and every layer done (or reused) as the finished pull has it. */
  synchronized PullProgress last(String imageId, boolean alreadyPresent, long nowNanos) {
    for (Layer l : layers) {
      if (l.state != LayerProgress.State.REUSED && l.state != LayerProgress.State.DONE) {
        // unpacking when the pull ended, or events missed by a listener that joined late
        l.state = LayerProgress.State.DONE;
      }
    }
    return build(nowNanos).setImageId(imageId).setAlreadyPresent(alreadyPresent).build();
  }

  private PullProgress.Builder build(long nowNanos) {
    PullProgress.Builder b = PullProgress.newBuilder()
        .setReference(resolvedReference == null ? reference : resolvedReference)
        .setManifestDigest(manifest)
        .setElapsedNanos(nowNanos - startNanos);
    for (Layer l : layers) {
      b.addLayers(LayerProgress.newBuilder()
          .setDigest(l.digest.toString()).setSize(l.size).setDownloaded(l.downloaded).setState(l.state));
    }
    return b;
  }
}
