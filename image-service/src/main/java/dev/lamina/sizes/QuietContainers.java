package dev.lamina.sizes;

import java.util.Collection;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The containers whose writable layers cannot change now, from containerd's task events heard
 * without a break: a container whose task exited, or that had no task when the tasks were listed,
 * keeps one measurement taken after that until a task of it starts. Anything that may have been
 * missed (a stream that broke or started again) forgets them all, so a container is only ever
 * measured more often than needed, never less.
 */
public final class QuietContainers implements TaskEvents {
  /** A listing of the tasks: the containers of {@code namespace} outside {@code live} had none at {@code at}. */
  private record Listing(String namespace, Set<String> live, long at) {}

  /** When each exit was heard (System.nanoTime), after it happened. */
  private final ConcurrentHashMap<ContainerKey, Long> exited = new ConcurrentHashMap<>();
  /** Containers whose task started since the stream opened: a listing may predate their start. */
  private final Set<ContainerKey> started = ConcurrentHashMap.newKeySet();
  private volatile Listing listing;

  @Override
  public void listening() {
    listing = null;
    exited.clear();
    started.clear();
  }

  @Override
  public void started(ContainerKey container) {
    started.add(container);
    exited.remove(container);
  }

  @Override
  public void exited(ContainerKey container) {
    exited.put(container, System.nanoTime());
  }

  @Override
  public void running(String namespace, Set<String> live) {
    listing = new Listing(namespace, Set.copyOf(live), System.nanoTime());
  }

  /**
   * Whether {@code container} had no task that could run before {@code nanos} (System.nanoTime)
   * and none has started since: a measurement begun at {@code nanos} is still right.
   */
  public boolean quietSince(ContainerKey container, long nanos) {
    Long heard = exited.get(container);
    if (heard != null) {
      return heard - nanos < 0;
    }
    Listing l = listing;
    return l != null && l.at() - nanos < 0 && l.namespace().equals(container.namespace())
        && !l.live().contains(container.containerId()) && !started.contains(container);
  }

  /** Forgets containers that are not among {@code present}, every container with a snapshot now. */
  void retain(Collection<ContainerKey> present) {
    exited.keySet().retainAll(present);
    started.retainAll(present);
  }
}
