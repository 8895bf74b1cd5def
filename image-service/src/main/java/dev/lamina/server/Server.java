package dev.lamina.server;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.content.LocalContentStore;
import dev.lamina.content.Store;
import dev.lamina.cri.CriImageService;
import dev.lamina.cri.PullsService;
import dev.lamina.diff.Differ;
import dev.lamina.diff.walking.TempMounter;
import dev.lamina.diff.walking.WalkingDiffer;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageManagerOptions;
import dev.lamina.images.LocalImageManager;
import dev.lamina.metrics.Telemetry;
import dev.lamina.processor.StreamProcessors;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.remotes.RegistryOptions;
import dev.lamina.services.DiffService;
import dev.lamina.services.ErrorMappingInterceptor;
import dev.lamina.services.LocalDiffService;
import dev.lamina.services.SnapshotsService;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import io.grpc.BindableService;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The lamina daemon: one composition root ({@link #create}) that opens the state under the root
 * directory and wires the services, and the gRPC servers that serve them on unix sockets.
 *
 * <ul>
 *   <li>snapshotter socket: containerd's {@code Snapshots} and {@code Diff} APIs, plus
 *       {@code grpc.health.v1.Health};
 *   <li>CRI socket: the CRI {@code ImageService}, once it exists. It is passed to the constructor
 *       as {@code criServices}; with none, the socket is not opened.
 * </ul>
 *
 * <p>Sockets are created mode 0660 in a directory made 0711 when missing; a stale socket file is
 * removed, a live one refused. Calls run on a bounded pool of threads. {@link #close} stops
 * accepting calls, waits up to the configured grace for those in flight, cancels the rest,
 * removes the socket files and closes the state.
 */
public final class Server implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(Server.class);

  /** One socket and what it serves. */
  record Endpoint(String what, String threadName, Path socket, List<BindableService> services) {}

  private final ServerConfig config;
  private final String snapshotterName;
  private final List<Closeable> state;
  private final List<Endpoint> endpoints;
  private final HealthStatusManager health = new HealthStatusManager();
  private final List<io.grpc.Server> servers = new ArrayList<>();
  /** Socket files this server bound, and so removes. */
  private final List<Path> bound = new ArrayList<>();
  private final CountDownLatch terminated = new CountDownLatch(1);
  private final Object lock = new Object();
  private ThreadPoolExecutor executor;
  private EventLoopGroup boss;
  /** One event loop per socket: a slow call on one never delays the other's. */
  private final List<EventLoopGroup> loops = new ArrayList<>();
  private boolean started;
  private boolean closed;
  /** Metrics, sizes and pods; null: none. */
  private final Telemetry telemetry;

  /**
   * @param snapshotterName the snapshotter that runs, for the logs
   * @param state what {@link #close} closes after the servers stopped, in order
   * @param snapshotterServices what the snapshotter socket serves
   * @param criServices what the CRI socket serves; empty: the socket is not opened
   */
  public Server(ServerConfig config, String snapshotterName, List<Closeable> state,
      List<BindableService> snapshotterServices, List<BindableService> criServices) {
    this(config, snapshotterName, state, snapshotterServices, criServices, null);
  }

  /** @param telemetry times the snapshot calls and starts with the server (it closes with {@code state}); null: none */
  Server(ServerConfig config, String snapshotterName, List<Closeable> state,
      List<BindableService> snapshotterServices, List<BindableService> criServices, Telemetry telemetry) {
    this.telemetry = telemetry;
    this.config = config;
    this.snapshotterName = snapshotterName;
    this.state = List.copyOf(state);
    List<Endpoint> e = new ArrayList<>();
    e.add(new Endpoint("containerd snapshots+diff", "snapshots", config.snapshotterSocket(),
        List.copyOf(snapshotterServices)));
    if (!criServices.isEmpty()) {
      e.add(new Endpoint("CRI image service", "cri", config.criSocket(), List.copyOf(criServices)));
    }
    this.endpoints = List.copyOf(e);
  }

  /**
   * Makes the {@link ImageManager} that the CRI ImageService serves, from the state {@link #create}
   * opened. When the manager is {@link Closeable}, the server closes it (before the snapshotter and
   * the content store).
   */
  @FunctionalInterface
  public interface ImageManagerFactory {
    ImageManager open(ServerConfig config, Snapshotter snapshotter, LocalContentStore content) throws IOException;
  }

  /**
   * lamina's own image manager ({@link LocalImageManager}) over the state {@link #create} opened:
   * image records in {@code <root>/metadata.db}, the options {@code settings} makes of the
   * defaults for the root, registries reached with {@code registry}. Pass it to
   * {@link #create(ServerConfig, ImageManagerFactory)} to serve the CRI socket.
   */
  public static ImageManagerFactory localImageManager(UnaryOperator<ImageManagerOptions> settings,
      RegistryOptions registry) {
    return (config, snapshotter, content) -> LocalImageManager.open(
        settings.apply(ImageManagerOptions.defaults(config.root())), content, snapshotter,
        new RegistryClient(registry));
  }

  /** Opens the state and wires the snapshotter socket's services; no CRI socket (no image manager). */
  public static Server create(ServerConfig config) throws IOException {
    return create(config, null);
  }

  /**
   * Opens the state under {@code config.root()} and wires every service: the composition root.
   *
   * @param imageManager makes the image manager the CRI ImageService serves on {@code
   *     config.criSocket()}; null: the CRI socket is not opened
   */
  public static Server create(ServerConfig config, ImageManagerFactory imageManager) throws IOException {
    return create(config, imageManager, null);
  }

  /**
   * The same, with metrics, container sizes and pod labels ({@link Telemetry}); null: none.
   */
  public static Server create(ServerConfig config, ImageManagerFactory imageManager, Telemetry.Options telemetryOptions)
      throws IOException {
    Path root = config.root();
    UnixSockets.createDirectories(root, "state directory");
    List<Closeable> opened = new ArrayList<>();
    try {
      SnapshotterKind kind = resolve(config.snapshotter(), root);
      Snapshotter snapshotter = kind == SnapshotterKind.OVERLAY ? OverlaySnapshotter.open(root)
          : CopyingSnapshotter.open(root);
      opened.add(snapshotter);
      LocalContentStore content = LocalContentStore.open(root.resolve("content"));
      opened.add(content);
      Telemetry telemetry = telemetryOptions == null ? null : Telemetry.open(telemetryOptions, snapshotter, content);
      if (telemetry != null) {
        opened.add(telemetry);
      }

      Map<String, Differ> available = new LinkedHashMap<>();
      available.put(WalkingDiffer.NAME, new WalkingDiffer(content, StreamProcessors.builtIn(),
          TempMounter.under(root.resolve("tmpmounts")), ApplyOptions.defaults(), root.resolve("tmp")));
      List<Differ> ordered = new ArrayList<>();
      for (String name : config.differs()) {
        Differ d = available.get(name);
        if (d == null) {
          throw LaminaException.invalidArgument("needed differ not loaded: " + name + " (have " + available.keySet()
              + ")");
        }
        ordered.add(d);
      }
      LocalDiffService diff = new LocalDiffService(ordered);

      // The CRI ImageService (pull/list/status/remove/fs info); its socket, config.criSocket(), is
      // opened only when it has services.
      List<BindableService> criServices = List.of();
      // close() closes the state in list order: the CRI service and its image manager go first.
      List<Closeable> state = new ArrayList<>(opened);
      ImageManager images = null;
      if (imageManager != null) {
        ImageManager local = imageManager.open(config, snapshotter, content);
        images = telemetry == null ? local : telemetry.meter(local);
        if (images instanceof Closeable c) {
          opened.add(c);
          state.add(0, c);
        }
        CriImageService cri = new CriImageService(images);
        opened.add(cri);
        state.add(0, cri);
        PullsService progress = new PullsService(cri);
        opened.add(progress);
        state.add(0, progress);
        criServices = telemetry == null ? List.of(cri, progress) : List.of(cri, progress, telemetry.containersService());
      }
      ImageStoreGuard guard = new ImageStoreGuard(snapshotter, images);
      opened.add(guard);
      state.add(0, guard);
      List<BindableService> snapshotterServices = List.of(
          new SnapshotsService(snapshotter, config.snapshotterName(), guard),
          new DiffService(diff));
      if (telemetry != null) { // stops sweeping before the snapshotter closes
        state.remove(telemetry);
        state.add(0, telemetry);
      }
      return new Server(config, kind.id(), state, snapshotterServices, criServices, telemetry);
    } catch (IOException | RuntimeException e) {
      for (int i = opened.size() - 1; i >= 0; i--) {
        try {
          opened.get(i).close();
        } catch (IOException suppressed) {
          e.addSuppressed(suppressed);
        }
      }
      throw e;
    }
  }

  /** {@code auto}: overlay when a trial overlay mount under the root works, else copying. */
  static SnapshotterKind resolve(SnapshotterKind kind, Path root) {
    if (kind != SnapshotterKind.AUTO) {
      return kind;
    }
    boolean overlay = OverlaySnapshotter.supported(root.resolve("snapshots"));
    LOG.info("snapshotter auto: overlayfs {} under {}, using {}", overlay ? "works" : "does not work", root,
        overlay ? "overlay" : "copying");
    return overlay ? SnapshotterKind.OVERLAY : SnapshotterKind.COPYING;
  }

  public ServerConfig config() {
    return config;
  }

  public String snapshotterName() {
    return snapshotterName;
  }

  /** Metrics, sizes and pods, or null when the server has none. */
  public Telemetry telemetry() {
    return telemetry;
  }

  /** Binds every socket and starts serving. */
  public void start() throws IOException {
    synchronized (lock) {
      if (started || closed) {
        throw new IllegalStateException("server already started or closed");
      }
      started = true;
      if (!Epoll.isAvailable()) {
        throw new LaminaException(ErrorKind.UNAVAILABLE, "netty epoll transport unavailable: "
            + Epoll.unavailabilityCause());
      }
      AtomicInteger n = new AtomicInteger();
      // calls on the pool, running or waiting for a thread; the queue has room for a task of each
      int maxCalls = config.threads() + config.queue();
      executor = new ThreadPoolExecutor(config.threads(), config.threads(), 60, TimeUnit.SECONDS,
          new ArrayBlockingQueue<>(Math.max(1, maxCalls)), r -> {
            Thread t = new Thread(r, "lamina-rpc-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
          });
      executor.allowCoreThreadTimeOut(true);
      boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("lamina-accept", true),
          EpollIoHandler.newFactory());
      ErrorMappingInterceptor errors = new ErrorMappingInterceptor();
      // one admission count for every socket: they share the pool
      InlineCalls placement = new InlineCalls(executor, maxCalls,
          !snapshotterName.equals(SnapshotterKind.OVERLAY.id()));
      try {
        for (Endpoint e : endpoints) {
          UnixSockets.prepare(e.socket());
          EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1,
              new DefaultThreadFactory("lamina-io-" + e.threadName(), true), EpollIoHandler.newFactory());
          loops.add(loop);
          NettyServerBuilder b = UnixSockets.serverBuilder(e.socket(), boss, loop)
              .directExecutor()
              .intercept(placement)
              .maxConcurrentCallsPerConnection(maxCalls)
              .addService(health.getHealthService());
          if (telemetry != null) {
            b.intercept(telemetry.calls()); // added last, runs first: it sees the time and status callers see
          }
          for (BindableService s : e.services()) {
            b.addService(ServerInterceptors.intercept(s, errors));
            health.setStatus(s.bindService().getServiceDescriptor().getName(),
                io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);
          }
          io.grpc.Server server = b.build().start();
          servers.add(server);
          bound.add(e.socket());
          UnixSockets.restrict(e.socket());
          LOG.info("serving {} on unix://{}", describe(e), e.socket());
        }
      } catch (IOException | RuntimeException ex) {
        stopNow();
        throw ex;
      }
      if (endpoints.stream().noneMatch(e -> e.socket().equals(config.criSocket()))) {
        LOG.info("CRI image service socket unix://{} not served (no image manager given to Server.create)",
            config.criSocket());
      }
      LOG.info("snapshotter {} with state under {}", snapshotterName, config.root());
      if (telemetry != null) {
        telemetry.start();
      }
    }
  }

  private static String describe(Endpoint e) {
    List<String> names = new ArrayList<>();
    for (BindableService s : e.services()) {
      names.add(s.bindService().getServiceDescriptor().getName());
    }
    return e.what() + " " + names;
  }

  /** Blocks until {@link #close} has finished. */
  public void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  /**
   * Stops accepting calls, lets the calls in flight finish within the shutdown grace, cancels what
   * is left, removes the socket files and closes the state. Safe to call more than once and from a
   * shutdown hook.
   */
  @Override
  public void close() throws IOException {
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
    }
    IOException problem = null;
    if (telemetry != null) {
      telemetry.stopping();
    }
    try {
      health.enterTerminalState();
      for (io.grpc.Server s : servers) {
        s.shutdown();
      }
      long deadline = System.nanoTime() + config.shutdownGrace().toNanos();
      for (io.grpc.Server s : servers) {
        long left = deadline - System.nanoTime();
        if (!s.awaitTermination(Math.max(0, left), TimeUnit.NANOSECONDS)) {
          LOG.warn("calls still running after {}; cancelling them", config.shutdownGrace());
        }
      }
      stopNow();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      stopNow();
    }
    for (Closeable c : state) {
      try {
        c.close();
      } catch (IOException e) {
        if (problem == null) {
          problem = e;
        } else {
          problem.addSuppressed(e);
        }
      }
    }
    terminated.countDown();
    LOG.info("stopped");
    if (problem != null) {
      throw problem;
    }
  }

  /** Cancels whatever still runs and releases threads and sockets. */
  private void stopNow() {
    for (io.grpc.Server s : servers) {
      s.shutdownNow();
    }
    for (io.grpc.Server s : servers) {
      try {
        s.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (executor != null) {
      executor.shutdownNow();
    }
    List<EventLoopGroup> groups = new ArrayList<>(loops);
    groups.add(boss);
    for (EventLoopGroup g : groups) {
      if (g != null) {
        g.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
      }
    }
    for (Path socket : bound) {
      try {
        UnixSockets.remove(socket);
      } catch (IOException ex) {
        LOG.warn("could not remove socket {}: {}", socket, ex.getMessage());
      }
    }
  }
}
