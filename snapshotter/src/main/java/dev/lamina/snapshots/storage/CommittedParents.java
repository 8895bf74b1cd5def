package dev.lamina.snapshots.storage;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The parent of every committed snapshot a transaction has walked through, kept in memory by the
 * {@link MetaStore}: a chain of 128 layers is otherwise a 128-step recursive query on every
 * mounts, view and prepare (about 80 µs, the larger part of such a call's time in the daemon).
 *
 * <p>Sound because a committed row never changes its parent, and its id is never given to another
 * row (AUTOINCREMENT), so an entry stays true for as long as the id exists, in every transaction
 * and every connection. The exception is a row committed by a write transaction that then rolls
 * back; a writer therefore publishes what it learnt only after its commit. Entries of removed
 * snapshots are dropped after the removal commits; until then they are unreachable anyway, since
 * no live row names a removed parent.
 */
final class CommittedParents {
  /** Parent id by committed snapshot id; 0 for a snapshot without parent. */
  private final Map<Long, Long> parentOf = new ConcurrentHashMap<>();

  /** The parent of committed {@code id} (0 for none), or null when not known yet. */
  Long parentOf(long id) {
    return parentOf.get(id);
  }

  void learn(Map<Long, Long> parents) {
    parentOf.putAll(parents);
  }

  void forget(long id) {
    parentOf.remove(id);
  }

  int size() {
    return parentOf.size();
  }
}
