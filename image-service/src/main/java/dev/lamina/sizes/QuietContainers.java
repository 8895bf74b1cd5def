package dev.lamina.sizes;

import java.util.Collection;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The containers whose task exited while the events were heard without a break: their writable
 * layers cannot change, so one measurement taken after the exit stays right until a task starts
 * again. Anything that may have been missed (a stream that broke or started again) forgets them
 * all, so a container is only ever measured more often than needed, never less.
 */
public final class QuietContainers implements TaskEvents {
  /** When each exit was heard (System.nanoTime), after it happened. */
  private final ConcurrentHashMap<ContainerKey, Long> exited = new ConcurrentHashMap<>();

  @Override
  public void listening() {
    exited.clear();
  }

  @Override
  public void started(ContainerKey container) {
    exited.remove(container);
  }

  @Override
  public void exited(ContainerKey container) {
    exited.put(container, System.nanoTime());
  }

  /**
   * Whether {@code container}'s task had exited before {@code nanos} (System.nanoTime) and none
   * has started since: a measurement begun at {@code nanos} is still right.
   */
  public boolean quietSince(ContainerKey container, long nanos) {
    Long heard = exited.get(container);
    return heard != null && heard - nanos < 0;
  }

  /** Forgets containers that are not among {@code present}: their snapshots are gone. */
  void retain(Collection<ContainerKey> present) {
    exited.keySet().retainAll(present);
  }
}
