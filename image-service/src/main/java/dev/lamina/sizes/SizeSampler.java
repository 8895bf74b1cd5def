package dev.lamina.sizes;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Measures every container's root filesystem: one {@link #sweep} lists the snapshots, measures the
 * writable layer of each active snapshot whose key is a container's ({@link ContainerKey}) through
 * {@link Snapshotter#usage} (a walk, or one quotactl where the overlay snapshotter's filesystem
 * has project quotas), and adds the usage recorded at commit for every committed snapshot under
 * it. Callers run sweeps in the background; readers take {@link #latest}, which is memory.
 *
 * <p>The CPU a sweep takes is bounded by pausing after each walk for {@code pause} times as long
 * as the walk took: with the default 1 a sweep keeps the walking threads busy at most half of the
 * time. A snapshot removed while it is measured is dropped (its series go with it); one that
 * cannot be measured for another reason keeps its last measurement and is counted as an error.
 *
 * <p>A walk that takes longer than {@code slowWalk} (a container with hundreds of thousands of
 * files) is logged once per snapshot with its time and inode count: it is walked again at every
 * sweep, and project quotas would make it one {@code quotactl}.
 *
 * <p>A container whose task has exited ({@link QuietContainers}, from containerd's task events)
 * keeps the measurement taken after its exit: nothing can write into it until a task starts again.
 */
public final class SizeSampler {
  private static final Logger LOG = LoggerFactory.getLogger(SizeSampler.class);

  /**
   * The result of one sweep.
   *
   * @param unchanged containers whose last measurement was kept: their task had exited before it
   */
  public record Sweep(Map<String, ContainerSize> containers, Map<Kind, Integer> snapshots, int errors,
      int unchanged, Duration took, Instant at) {
    public static final Sweep EMPTY = new Sweep(Map.of(), Map.of(), 0, 0, Duration.ZERO, Instant.EPOCH);

    public Sweep {
      containers = Collections.unmodifiableMap(new LinkedHashMap<>(containers));
      snapshots = Map.copyOf(snapshots);
    }
  }

  /** A measurement longer than this is worth a line in the log. */
  public static final Duration SLOW_WALK = Duration.ofSeconds(1);

  private final Snapshotter snapshotter;
  private final double pause;
  private final Clock clock;
  private final long slowWalkNanos;
  private final QuietContainers quiet;
  private final Set<String> loggedSlow = new HashSet<>(); // guarded by this
  /** When each snapshot's last measurement began (System.nanoTime); guarded by this. */
  private final Map<String, Long> measuredFrom = new HashMap<>();
  private volatile Sweep latest = Sweep.EMPTY;

  /** @param pause how long to rest after each walk, as a multiple of the walk's time (0: never) */
  public SizeSampler(Snapshotter snapshotter, double pause, Clock clock) {
    this(snapshotter, pause, clock, SLOW_WALK, new QuietContainers());
  }

  SizeSampler(Snapshotter snapshotter, double pause, Clock clock, Duration slowWalk, QuietContainers quiet) {
    if (pause < 0) {
      throw new IllegalArgumentException("negative pause");
    }
    this.snapshotter = snapshotter;
    this.pause = pause;
    this.clock = clock;
    this.slowWalkNanos = slowWalk.toNanos();
    this.quiet = quiet;
  }

  /** Where containerd's task events go, so that containers whose task exited are not walked again. */
  public TaskEvents tasks() {
    return quiet;
  }

  public SizeSampler(Snapshotter snapshotter) {
    this(snapshotter, 1.0, Clock.systemUTC());
  }

  /** The last sweep's result (empty before the first). */
  public Sweep latest() {
    return latest;
  }

  /** Measures every container now, publishes and returns the result. */
  public synchronized Sweep sweep() throws IOException, InterruptedException {
    long start = System.nanoTime();
    Map<String, Info> all = new HashMap<>();
    try {
      snapshotter.walk(i -> all.put(i.name(), i), List.of());
    } catch (UncheckedIOException e) {
      throw e.getCause();
    }
    Map<Kind, Integer> kinds = new EnumMap<>(Kind.class);
    for (Info i : all.values()) {
      kinds.merge(i.kind(), 1, Integer::sum);
    }
    List<Info> active = new ArrayList<>();
    List<ContainerKey> containers = new ArrayList<>();
    for (Info i : all.values()) {
      Optional<ContainerKey> key = i.kind() == Kind.ACTIVE ? ContainerKey.parse(i.name()) : Optional.empty();
      if (key.isPresent()) {
        active.add(i);
        containers.add(key.get());
      }
    }
    active.sort((a, b) -> a.name().compareTo(b.name()));
    Map<String, Long> committed = new HashMap<>();
    Map<String, ContainerSize> out = new LinkedHashMap<>();
    Sweep previous = latest;
    int errors = 0;
    int unchanged = 0;
    for (Info i : active) {
      ContainerSize last = previous.containers().get(i.name());
      Long from = measuredFrom.get(i.name());
      if (last != null && from != null && quiet.quietSince(last.container(), from)) {
        out.put(i.name(), last);
        unchanged++;
        continue;
      }
      long walkStart = System.nanoTime();
      Optional<ContainerSize> size;
      try {
        size = Optional.of(measure(i, all, committed));
        measuredFrom.put(i.name(), walkStart);
      } catch (LaminaException e) {
        if (e.kind() != ErrorKind.NOT_FOUND) {
          errors++;
          LOG.warn("size of snapshot {} not measured: {}", i.name(), e.getMessage());
          size = Optional.ofNullable(previous.containers().get(i.name()));
        } else {
          LOG.info("snapshot {} was removed while it was measured; it has no size now", i.name());
          size = Optional.empty();
        }
      } catch (NoSuchFileException e) {
        LOG.info("snapshot {} was removed while it was measured ({} vanished); it has no size now", i.name(),
            e.getFile());
        size = Optional.empty();
      } catch (IOException e) {
        errors++;
        LOG.warn("size of snapshot {} not measured: {}", i.name(), e.toString());
        size = Optional.ofNullable(previous.containers().get(i.name()));
      }
      size.ifPresent(s -> out.put(s.key(), s));
      long took = System.nanoTime() - walkStart;
      if (took > slowWalkNanos && out.containsKey(i.name()) && loggedSlow.add(i.name())) {
        ContainerSize s = out.get(i.name());
        // a write into a file already there touches no directory, so nothing short of statting
        // every entry tells that the tree is unchanged: it is walked at every sweep
        LOG.warn("measuring container {} (snapshot {}) took {} ms for {} inodes, {} bytes; it is walked again at "
            + "every sweep; project quotas on the snapshots' filesystem would make it one quotactl",
            s.container().containerId(), i.name(), took / 1_000_000, s.inodes(), s.sizeRw());
      }
      if (pause > 0) {
        TimeUnit.NANOSECONDS.sleep((long) (took * pause));
      }
    }
    loggedSlow.retainAll(all.keySet()); // a snapshot gone is forgotten
    measuredFrom.keySet().retainAll(all.keySet());
    // every container with a snapshot, measured or not: a start heard for one not measured yet still counts
    quiet.retain(containers);
    Sweep sweep = new Sweep(out, kinds, errors, unchanged, Duration.ofNanos(System.nanoTime() - start), clock.instant());
    latest = sweep;
    return sweep;
  }

  private ContainerSize measure(Info active, Map<String, Info> all, Map<String, Long> committed) throws IOException {
    Usage rw = snapshotter.usage(active.name());
    long rootFs = rw.size();
    // committed usage is recorded metadata: a lookup, not a walk; each parent once per sweep
    for (String p = active.parent(); !p.isEmpty(); ) {
      String name = p;
      Long size = committed.get(name);
      if (size == null) {
        size = snapshotter.usage(name).size();
        committed.put(name, size);
      }
      rootFs += size;
      Info parent = all.get(name);
      p = parent == null ? snapshotter.stat(name).parent() : parent.parent();
    }
    return new ContainerSize(active.name(), ContainerKey.parse(active.name()).orElseThrow(), rw.size(), rw.inodes(),
        rootFs, active.parent(), clock.instant());
  }
}
