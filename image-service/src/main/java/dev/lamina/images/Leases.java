package dev.lamina.images;

import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What pulls in flight hold on to, kept from garbage collection: content digests and snapshot
 * names. In memory only: leases die with the process, and so do the pulls that took them; what a
 * crashed pull left (an active extraction snapshot, an ingest) is cleaned up at the next start.
 *
 * <p>Collection deletes one thing at a time through {@link #tryClaim}: a thing is claimed only
 * while nobody holds it, and {@link Lease#protect} of a claimed thing waits until its deletion is
 * over, so a pull never reuses something a collection is deleting: it sees it gone and makes it
 * again. Things a lease gave up while a collection ran stay protected until that collection ends:
 * they were protected when it took its roots, and may be roots it did not see (an image record
 * written meanwhile).
 */
final class Leases {
  private final Map<String, Integer> held = new HashMap<>();
  private final Set<String> claimed = new HashSet<>();
  private final Set<String> releasedDuringCollection = new HashSet<>();
  private boolean collecting;

  static String content(Object digest) {
    return "content/" + digest;
  }

  static String snapshot(String name) {
    return "snapshot/" + name;
  }

  Lease lease() {
    return new Lease();
  }

  /** Starts a collection: from now until {@link #endCollection}, released things stay protected. */
  synchronized void beginCollection() {
    collecting = true;
    releasedDuringCollection.clear();
  }

  synchronized void endCollection() {
    collecting = false;
    releasedDuringCollection.clear();
  }

  /** Claims {@code thing} for deletion when nothing protects it; {@link #release} it afterwards. */
  synchronized boolean tryClaim(String thing) {
    if (held.containsKey(thing) || releasedDuringCollection.contains(thing) || claimed.contains(thing)) {
      return false;
    }
    claimed.add(thing);
    return true;
  }

  synchronized void release(String thing) {
    claimed.remove(thing);
    notifyAll();
  }

  synchronized boolean isProtected(String thing) {
    return held.containsKey(thing) || releasedDuringCollection.contains(thing);
  }

  /** What one pull holds; closing it gives everything up. */
  final class Lease implements AutoCloseable {
    private final List<String> things = new ArrayList<>();
    private boolean closed;

    /** Protects {@code thing} until this lease closes; waits while a collection is deleting it. */
    void protect(String thing) throws InterruptedIOException {
      synchronized (Leases.this) {
        if (closed) {
          throw new IllegalStateException("lease closed");
        }
        while (claimed.contains(thing)) {
          try {
            Leases.this.wait();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for garbage collection of " + thing);
          }
        }
        held.merge(thing, 1, Integer::sum);
        things.add(thing);
      }
    }

    @Override
    public void close() {
      synchronized (Leases.this) {
        if (closed) {
          return;
        }
        closed = true;
        for (String t : things) {
          held.computeIfPresent(t, (k, n) -> n == 1 ? null : n - 1);
          if (collecting) {
            releasedDuringCollection.add(t);
          }
        }
        things.clear();
      }
    }
  }
}
