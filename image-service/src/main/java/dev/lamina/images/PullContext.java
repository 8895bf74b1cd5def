package dev.lamina.images;

import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageRef;
import dev.lamina.remotes.RegistryClient;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/** One pull in flight: what every step of it needs to know, and what it counts. */
final class PullContext {
  final ImageRef ref;
  final RegistryClient client;
  final PullListener listener;
  /** Layers of this pull unpacking at once. */
  final Semaphore perPull;
  final AtomicLong downloaded = new AtomicLong();
  final AtomicInteger unpacked = new AtomicInteger();

  PullContext(ImageRef ref, RegistryClient client, PullListener listener, int perPull) {
    this.ref = ref;
    this.client = client;
    this.listener = listener;
    this.perPull = new Semaphore(perPull, true);
  }

  /** Reports the bytes of {@code blob} read so far to the listener. */
  LongConsumer progress(Descriptor blob) {
    return done -> listener.layerProgress(blob.digest(), done, blob.size());
  }
}
