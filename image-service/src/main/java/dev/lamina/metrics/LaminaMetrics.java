package dev.lamina.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import java.io.Closeable;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.ToLongFunction;

/**
 * Every {@code lamina_*} meter, declared in one place, on a registry the caller gives. Names are
 * micrometer's dotted form; the Prometheus registry writes them with base units and {@code _total}
 * ({@code lamina.pull.downloaded} in bytes is {@code lamina_pull_downloaded_bytes_total}). Label
 * values are never references with credentials: pulls are labelled by outcome only.
 */
public final class LaminaMetrics implements Closeable {
  /** Pull durations: a cached tiny image takes milliseconds, a cold multi-GB one minutes. */
  private static final Duration[] PULL_BUCKETS = seconds(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800);
  /** One layer, from its first byte to its commit. */
  private static final Duration[] LAYER_BUCKETS = seconds(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300);
  /** One snapshot call as containerd sees it: stat and mounts take microseconds, a remove of a big tree seconds. */
  private static final Duration[] SNAPSHOT_BUCKETS =
      seconds(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30);
  /** One sweep over every active snapshot. */
  private static final Duration[] SWEEP_BUCKETS = seconds(0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300);
  /** Average download throughput of one pull, bytes per second: 1 MB/s to 1 GB/s. */
  private static final double[] THROUGHPUT_BUCKETS = {1e6, 5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 5e8, 1e9};

  /** From a pull's end to its image's records in containerd. */
  private static final Duration[] REGISTRATION_BUCKETS = seconds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
      5, 10, 30, 120);

  private final MeterRegistry registry;
  private final Timer registrationLag;
  private final Counter registrationsDone;
  private final Counter registrationsFailed;
  private final Counter registrationsRemoved;
  private final AtomicInteger pullsInProgress = new AtomicInteger();
  private final Timer pullDuration;
  private final Counter downloadedBytes;
  private final Counter skippedBytes;
  private final Counter layersFetched;
  private final Counter layersReused;
  private final Timer layerDuration;
  private final DistributionSummary pullThroughput;
  private final Map<String, Counter> pullsByOutcome = new ConcurrentHashMap<>();
  private final Map<String, Timer> snapshotOps = new ConcurrentHashMap<>();
  private final Timer sweepDuration;
  private final Counter sweepErrors;
  private final AtomicInteger sweepUnchanged = new AtomicInteger();
  private final AtomicReference<StoreStats> store = new AtomicReference<>(StoreStats.UNKNOWN);
  private final MultiGauge containerRw;
  private java.util.Map<Tags, java.util.concurrent.atomic.AtomicLongArray> containerValues = java.util.Map.of();
  private final MultiGauge containerRootFs;
  private final MultiGauge containerInodes;
  private final MultiGauge snapshotsByKind;
  private final JvmGcMetrics gc = new JvmGcMetrics();

  public LaminaMetrics(MeterRegistry registry) {
    this.registry = registry;
    // Before any meter (micrometer warns of a filter added later). Prometheus' linter rejects
    // these two names of withJvmMetrics (a CPU time in "ns", a gauge ending in "_count");
    // process_cpu_usage and the JVM's own meters say the same
    registry.config().meterFilter(MeterFilter.deny(id -> id.getName().equals("process.cpu.time")
        || id.getName().equals("system.cpu.count")));
    registrationLag = Timer.builder("lamina.containerd.registration.lag")
        .description("Time from a pull's end to its image registered in containerd")
        .serviceLevelObjectives(REGISTRATION_BUCKETS).register(registry);
    String registrations = "Image registrations in containerd, by outcome (unregistered: names removed)";
    registrationsDone = Counter.builder("lamina.containerd.registrations").tag("outcome", "registered")
        .description(registrations).register(registry);
    registrationsFailed = Counter.builder("lamina.containerd.registrations").tag("outcome", "failed")
        .description(registrations).register(registry);
    registrationsRemoved = Counter.builder("lamina.containerd.registrations").tag("outcome", "unregistered")
        .description(registrations).register(registry);
    Gauge.builder("lamina.pulls.in.progress", pullsInProgress, AtomicInteger::get)
        .description("Pulls running now (a pull that joins one in flight counts once more)")
        .register(registry);
    pullDuration = Timer.builder("lamina.pull.duration")
        .description("Time of a pull, from the CRI call to the image record")
        .serviceLevelObjectives(PULL_BUCKETS).register(registry);
    downloadedBytes = Counter.builder("lamina.pull.downloaded").baseUnit("bytes")
        .description("Compressed layer bytes received from registries").register(registry);
    skippedBytes = Counter.builder("lamina.pull.skipped").baseUnit("bytes")
        .description("Compressed layer bytes not downloaded because the layer's snapshot was already committed")
        .register(registry);
    layersFetched = Counter.builder("lamina.pull.layers").tag("source", "fetched")
        .description("Layers of pulled images, by whether they were fetched or reused").register(registry);
    layersReused = Counter.builder("lamina.pull.layers").tag("source", "reused")
        .description("Layers of pulled images, by whether they were fetched or reused").register(registry);
    layerDuration = Timer.builder("lamina.layer.unpack.duration")
        .description("Time of one layer from its first byte to its commit (download, decompression and apply overlap)")
        .serviceLevelObjectives(LAYER_BUCKETS).register(registry);
    pullThroughput = DistributionSummary.builder("lamina.pull.throughput").baseUnit("bytes_per_second")
        .description("Average download throughput of each pull that downloaded bytes")
        .serviceLevelObjectives(THROUGHPUT_BUCKETS).register(registry);
    sweepDuration = Timer.builder("lamina.size.sweep.duration")
        .description("Time of one measurement of every active snapshot's writable layer")
        .serviceLevelObjectives(SWEEP_BUCKETS).register(registry);
    sweepErrors = Counter.builder("lamina.size.sweep.errors")
        .description("Active snapshots that could not be measured (other than removed while measured)")
        .register(registry);
    Gauge.builder("lamina.size.sweep.unchanged", sweepUnchanged, AtomicInteger::get)
        .description("Containers the last sweep kept the size of instead of measuring: their task had exited before")
        .register(registry);
    storeGauge("lamina.imagefs.used", "bytes", "Bytes used by snapshots and content, from commit-time counters",
        StoreStats::imageFsBytes);
    storeGauge("lamina.imagefs.inodes.used", null, "Inodes used by snapshots and content", StoreStats::imageFsInodes);
    storeGauge("lamina.content.store", "bytes", "Bytes of committed blobs in the content store",
        StoreStats::contentBytes);
    storeGauge("lamina.content.blobs", null, "Committed blobs in the content store", StoreStats::contentBlobs);
    storeGauge("lamina.images", null, "Image records (one per image ID)", StoreStats::images);
    snapshotsByKind = MultiGauge.builder("lamina.snapshots").description("Snapshots, by kind").register(registry);
    containerRw = MultiGauge.builder("lamina.container.rw").baseUnit("bytes")
        .description("SizeRw: allocated bytes of a container's writable layer (hard links once, as du -s)")
        .register(registry);
    containerRootFs = MultiGauge.builder("lamina.container.rootfs").baseUnit("bytes")
        .description("SizeRootFs: SizeRw plus the recorded usage of every committed layer under it")
        .register(registry);
    containerInodes = MultiGauge.builder("lamina.container.rw.inodes")
        .description("Inodes of a container's writable layer").register(registry);
  }

  /** JVM and process meters ({@code jvm_*}, {@code process_*}, {@code system_*}). */
  public LaminaMetrics withJvmMetrics() {
    new JvmMemoryMetrics().bindTo(registry);
    gc.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
    return this;
  }

  public MeterRegistry registry() {
    return registry;
  }

  private void storeGauge(String name, String unit, String description, ToLongFunction<StoreStats> f) {
    Gauge.builder(name, store, s -> StoreStats.value(f.applyAsLong(s.get()))).baseUnit(unit).description(description)
        .register(registry);
  }

  // ---------------------------------------------------------------------------------------------
  // pulls

  void pullStarted() {
    pullsInProgress.incrementAndGet();
  }

  /** @param outcome {@code success} or an error kind in lower case ({@code not_found}) */
  void pullFinished(String outcome, long nanos, long downloaded) {
    pullsInProgress.decrementAndGet();
    pullDuration.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
    pullsByOutcome.computeIfAbsent(outcome, o -> Counter.builder("lamina.pulls").tag("outcome", o)
        .description("Pulls, by outcome").register(registry)).increment();
    if (downloaded > 0 && nanos > 0) {
      pullThroughput.record(downloaded / (nanos / 1e9));
    }
  }

  void downloaded(long bytes) {
    downloadedBytes.increment(bytes);
  }

  void layerReused(long bytes) {
    layersReused.increment();
    skippedBytes.increment(bytes);
  }

  void layerFetched(long nanos) {
    layersFetched.increment();
    layerDuration.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  // ---------------------------------------------------------------------------------------------
  // snapshot calls

  /** @param operation containerd's method name in lower case ({@code prepare}); {@code code} a gRPC status code */
  void snapshotOperation(String operation, String code, long nanos) {
    snapshotOps.computeIfAbsent(operation + '\0' + code, k -> Timer.builder("lamina.snapshot.operation.duration")
        .tags("operation", operation, "code", code)
        .description("Time of one call of containerd's Snapshots API, as the caller sees it")
        .serviceLevelObjectives(SNAPSHOT_BUCKETS).register(registry))
        .record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  // ---------------------------------------------------------------------------------------------
  // sizes and store

  void sweepFinished(long nanos, int errors, int unchanged) {
    sweepDuration.record(nanos, java.util.concurrent.TimeUnit.NANOSECONDS);
    sweepErrors.increment(errors);
    sweepUnchanged.set(unchanged);
  }

  void store(StoreStats stats) {
    store.set(stats);
  }

  void snapshots(Map<String, Integer> byKind) {
    snapshotsByKind.register(byKind.entrySet().stream()
        .map(e -> MultiGauge.Row.of(Tags.of("kind", e.getKey().toLowerCase(Locale.ROOT)), e.getValue()))
        .toList(), true);
  }

  /**
   * Replaces every container's series: a container not in {@code rows} loses its series, so none
   * outlive their snapshot. Every row has the same label names, empty where unknown (Prometheus
   * treats an empty label as no label).
   */
  /**
   * Replaces the container series: a row keeps its gauge while its container lasts and only its
   * values change, so no series is removed and registered again between two scrapes.
   */
  synchronized void containers(Iterable<ContainerRow> rows) {
    java.util.Map<Tags, java.util.concurrent.atomic.AtomicLongArray> next = new java.util.HashMap<>();
    java.util.List<MultiGauge.Row<?>> rw = new java.util.ArrayList<>();
    java.util.List<MultiGauge.Row<?>> rootFs = new java.util.ArrayList<>();
    java.util.List<MultiGauge.Row<?>> inodes = new java.util.ArrayList<>();
    for (ContainerRow r : rows) {
      Tags tags = r.tags();
      java.util.concurrent.atomic.AtomicLongArray v = containerValues.get(tags);
      if (v == null) {
        v = new java.util.concurrent.atomic.AtomicLongArray(3);
      }
      v.set(0, r.sizeRw());
      v.set(1, r.sizeRootFs());
      v.set(2, r.inodes());
      next.put(tags, v);
      rw.add(MultiGauge.Row.of(tags, v, a -> a.get(0)));
      rootFs.add(MultiGauge.Row.of(tags, v, a -> a.get(1)));
      inodes.add(MultiGauge.Row.of(tags, v, a -> a.get(2)));
    }
    containerValues = next; // the gauges hold their values weakly: this map keeps them
    containerRw.register(rw, false);
    containerRootFs.register(rootFs, false);
    containerInodes.register(inodes, false);
  }

  /** Registration in containerd, counted and timed. */
  public dev.lamina.containerd.RegistrationListener registrations() {
    return new dev.lamina.containerd.RegistrationListener() {
      @Override
      public void registered(Duration lag) {
        registrationsDone.increment();
        registrationLag.record(lag);
      }

      @Override
      public void failed() {
        registrationsFailed.increment();
      }

      @Override
      public void unregistered(int names) {
        registrationsRemoved.increment(names);
      }
    };
  }

  @Override
  public void close() {
    gc.close();
  }

  private static Duration[] seconds(double... s) {
    Duration[] d = new Duration[s.length];
    for (int i = 0; i < s.length; i++) {
      d[i] = Duration.ofNanos(Math.round(s[i] * 1e9));
    }
    return d;
  }
}
