package dev.lamina.cli;

import dev.lamina.containerd.ContainerdSettings;
import dev.lamina.containerd.RegisteringImageManager;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.ImageManagerOptions;
import dev.lamina.oci.ImageRef;
import dev.lamina.processor.GzipPrograms;
import dev.lamina.processor.StreamProcessors;
import dev.lamina.remotes.RegistryOptions;
import dev.lamina.remotes.hosts.HostsConfig;
import dev.lamina.server.Server;
import dev.lamina.server.ServerConfig;
import dev.lamina.server.SnapshotterKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import sun.misc.Signal;
import picocli.CommandLine.Command;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Run the lamina daemon.",
      "Serves the CRI image service on --socket (for kubelet and crictl) and containerd's Snapshots "
          + "and Diff APIs on --snapshotter-socket (for containerd's proxy_plugins), with state under the "
          + "root directory. SIGTERM drains the calls in flight, then removes the sockets."
    })
final class ServeCommand implements Callable<Integer> {
  @Mixin ConfigOptions configOptions;

  @Option(names = "--root", paramLabel = "DIR", defaultValue = "/var/lib/lamina",
      description = "State directory (metadata.db, snapshots/, content/). Default: ${DEFAULT-VALUE}.")
  Path root;

  @Option(names = "--snapshotter-socket", paramLabel = "PATH", defaultValue = "/run/lamina/snapshotter.sock",
      description = "Unix socket for the Snapshots and Diff APIs. Default: ${DEFAULT-VALUE}.")
  Path snapshotterSocket;

  @Option(names = "--socket", paramLabel = "PATH", defaultValue = "/run/lamina/lamina.sock",
      description = "Unix socket for the CRI image service (kubelet's --image-service-endpoint). Default: ${DEFAULT-VALUE}.")
  Path criSocket;

  @Option(names = "--snapshotter", paramLabel = "overlay|copying|auto", defaultValue = "auto",
      description = "Snapshotter: auto picks overlay when a trial overlay mount under the root works. "
          + "Default: ${DEFAULT-VALUE}.")
  String snapshotter;

  @Option(names = "--snapshotter-name", paramLabel = "NAME",
      description = "Refuse Snapshots requests naming another snapshotter (containerd sends its proxy plugin's "
          + "name). Default: accept any.")
  String snapshotterName;

  @Option(names = "--differ", paramLabel = "NAME", split = ",", defaultValue = "walking",
      description = "Differs in the order they are tried. Default: ${DEFAULT-VALUE}.")
  List<String> differs;

  @Option(names = "--registry-config-dir", paramLabel = "DIR",
      description = "Per-registry configuration in containerd's layout: DIR/<host[:port]>/hosts.toml (server, "
          + "[host.\"...\"] mirrors tried in order, http:// hosts, skip_verify, ca, client, header, override_path), "
          + "DIR/_default/hosts.toml for any other host. Read at every pull. Default: none (https, then http for "
          + "localhost).")
  Path registryConfigDir;

  @Option(names = "--pinned-image", paramLabel = "REF",
      description = "An image reported pinned to kubelet, whose image garbage collection then leaves it "
          + "alone (the pause image); repeatable.")
  List<String> pinnedImages = new ArrayList<>();

  @Option(names = "--layers-per-pull", paramLabel = "N",
      defaultValue = "" + ImageManagerOptions.DEFAULT_LAYERS_PER_PULL,
      description = "Layers one pull downloads and unpacks at the same time. Default: ${DEFAULT-VALUE}.")
  int layersPerPull;

  @Option(names = "--max-concurrent-layers", paramLabel = "N",
      defaultValue = "" + ImageManagerOptions.DEFAULT_LAYERS_IN_TOTAL,
      description = "Layers all pulls together download and unpack at the same time. Default: ${DEFAULT-VALUE}.")
  int layersInTotal;

  @Option(names = "--drop-compressed-layers",
      description = "Do not keep a layer's compressed blob once its unpack is verified (for nodes short of disk).")
  boolean dropCompressedLayers;

  @Option(names = "--pull-progress-timeout", paramLabel = "SECONDS", defaultValue = "300",
      description = "A download that receives no bytes for this long fails, and is retried (containerd's "
          + "image_pull_progress_timeout). Default: ${DEFAULT-VALUE}.")
  long pullProgressTimeoutSeconds;

  @Option(names = "--gunzip", paramLabel = "auto|builtin|PATH", defaultValue = "auto",
      description = "What inflates gzip layers: auto takes igzip or else unpigz from PATH when there is one "
          + "(several times as fast as the JVM's zlib), builtin the JVM, PATH that program (run as PATH -d -c, "
          + "stdin to stdout). Default: ${DEFAULT-VALUE}.")
  String gunzip;

  @Mixin ContainerdOptions containerd = new ContainerdOptions();

  @Option(names = "--shutdown-timeout", paramLabel = "SECONDS", defaultValue = "10",
      description = "How long a shutdown waits for calls in flight. Default: ${DEFAULT-VALUE}.")
  long shutdownSeconds;

  @Mixin LoggingOptions logging = new LoggingOptions();

  @Mixin MetricsOptions metrics = new MetricsOptions();

  @Override
  public Integer call() throws Exception {
    logging.apply();
    configureLogging();
    configureNetty();
    SnapshotterKind kind;
    try {
      kind = SnapshotterKind.parse(snapshotter);
    } catch (IllegalArgumentException e) {
      throw LaminaException.invalidArgument(e.getMessage());
    }
    ServerConfig d = ServerConfig.defaults();
    ServerConfig config = new ServerConfig(root, snapshotterSocket, criSocket, kind, snapshotterName, differs,
        d.threads(), d.queue(), Duration.ofSeconds(shutdownSeconds));
    if (layersPerPull < 1 || layersInTotal < 1) {
      throw LaminaException.invalidArgument("--layers-per-pull and --max-concurrent-layers must be at least 1");
    }
    if (pullProgressTimeoutSeconds < 1) {
      throw LaminaException.invalidArgument("--pull-progress-timeout must be at least 1 second");
    }
    if (registryConfigDir != null && !Files.isDirectory(registryConfigDir)) {
      throw LaminaException.invalidArgument("--registry-config-dir " + registryConfigDir + " is not a directory");
    }
    for (String ref : pinnedImages) {
      ImageRef.parse(ref); // a typo fails the start, not every later collection
    }
    StreamProcessors processors = processors();
    RegistryOptions d0 = RegistryOptions.defaults();
    RegistryOptions registry = d0
        .withHosts(registryConfigDir == null ? HostsConfig.none() : HostsConfig.directory(registryConfigDir))
        .withTimeouts(d0.connectTimeout(), d0.responseTimeout(), Duration.ofSeconds(pullProgressTimeoutSeconds));
    Server.ImageManagerFactory local = Server.localImageManager(o -> o
        .withConcurrency(layersPerPull, layersInTotal)
        .withDropCompressedLayers(dropCompressedLayers)
        .withPinnedReferences(Set.copyOf(pinnedImages))
        .withProcessors(processors), registry);
    Optional<ContainerdSettings> link = containerd.settings();
    Server server = Server.create(config, link.isEmpty() ? local : (cfg, snapshots, content) ->
        RegisteringImageManager.start(local.open(cfg, snapshots, content), snapshots, content, link.get()),
        metrics.options());
    LoggerFactory.getLogger(ServeCommand.class).info("{}", registry.hosts().describe());
    LoggerFactory.getLogger(ServeCommand.class).info("gzip layers are inflated by {}",
        processors.gunzip().map(Path::toString).orElse("the JVM (zlib)"));
    AtomicBoolean stopping = new AtomicBoolean();
    Runnable stop = () -> {
      stopping.set(true);
      try {
        server.close();
      } catch (Exception e) {
        System.err.println("lamina: shutdown: " + e.getMessage());
      }
    };
    Thread hook = new Thread(stop, "lamina-shutdown");
    // SIGTERM and SIGINT are a normal stop: drain and exit 0. Left to the shutdown hook alone, the
    // JVM would already be exiting with 143 by the time the drain finished. The handlers come
    // before the sockets: a stop right after they open is a normal stop too.
    for (String name : new String[] {"TERM", "INT"}) {
      Signal.handle(new Signal(name), signal -> new Thread(stop, "lamina-stop").start());
    }
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      server.start();
    } catch (IllegalStateException e) {
      if (!stopping.get()) {
        throw e;
      }
    } catch (Exception e) {
      server.close();
      throw e;
    }
    server.awaitTermination();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // the JVM is exiting already: the hook has run
    }
    return 0;
  }

  /** The built-in stages, with the gzip program --gunzip names or finds. */
  private StreamProcessors processors() throws LaminaException {
    StreamProcessors builtIn = StreamProcessors.builtIn();
    return switch (gunzip) {
      case "builtin" -> builtIn;
      case "auto" -> GzipPrograms.find(System.getenv("PATH")).map(builtIn::withGunzip).orElse(builtIn);
      default -> {
        Path program = Path.of(gunzip);
        if (!GzipPrograms.runnable(program)) {
          throw LaminaException.invalidArgument("--gunzip " + gunzip
              + " is not an executable file; give auto, builtin or the path of a gzip-compatible program");
        }
        yield builtIn.withGunzip(program.toAbsolutePath());
      }
    };
  }

  /** Timestamps and thread names in the daemon's log, unless set otherwise with -D. */
  private static void configureLogging() {
    setIfAbsent("org.slf4j.simpleLogger.showDateTime", "true");
    setIfAbsent("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    setIfAbsent("org.slf4j.simpleLogger.showThreadName", "false");
    // grpc-netty sets SO_KEEPALIVE on every accepted channel; on a unix socket Netty warns about it
    // once per connection, which would be most of the log.
    setIfAbsent("org.slf4j.simpleLogger.log.io.netty.bootstrap", "error");
  }

  /**
   * Netty's buffer leak detector records a stack trace for one buffer in 128, a few per gRPC call,
   * on the event loop that answers containerd's snapshot calls. It is a debugging aid; set
   * {@code -Dio.netty.leakDetection.level=simple} to have it back.
   */
  private static void configureNetty() {
    setIfAbsent("io.netty.leakDetection.level", "disabled");
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
