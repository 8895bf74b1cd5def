package dev.lamina.cli;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.server.Server;
import dev.lamina.server.ServerConfig;
import dev.lamina.server.SnapshotterKind;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import sun.misc.Signal;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Run the lamina daemon.",
      "Serves the CRI image service on --socket (for kubelet and crictl) and containerd's Snapshots",
      "and Diff APIs on --snapshotter-socket (for containerd's proxy_plugins), with state under the",
      "root directory. SIGTERM drains the calls in flight, then removes the sockets."
    })
final class ServeCommand implements Callable<Integer> {
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

  @Option(names = "--shutdown-timeout", paramLabel = "SECONDS", defaultValue = "10",
      description = "How long a shutdown waits for calls in flight. Default: ${DEFAULT-VALUE}.")
  long shutdownSeconds;

  @Override
  public Integer call() throws Exception {
    configureLogging();
    SnapshotterKind kind;
    try {
      kind = SnapshotterKind.parse(snapshotter);
    } catch (IllegalArgumentException e) {
      throw LaminaException.invalidArgument(e.getMessage());
    }
    ServerConfig d = ServerConfig.defaults();
    ServerConfig config = new ServerConfig(root, snapshotterSocket, criSocket, kind, snapshotterName, differs,
        d.threads(), d.queue(), Duration.ofSeconds(shutdownSeconds));
    Server server = Server.create(config, Server.localImageManager());
    Thread hook = new Thread(() -> {
      try {
        server.close();
      } catch (Exception e) {
        System.err.println("lamina: shutdown: " + e.getMessage());
      }
    }, "lamina-shutdown");
    try {
      server.start();
    } catch (Exception e) {
      server.close();
      throw e;
    }
    Runtime.getRuntime().addShutdownHook(hook);
    // SIGTERM and SIGINT are a normal stop: drain and exit 0. Left to the shutdown hook alone, the
    // JVM would already be exiting with 143 by the time the drain finished.
    for (String name : new String[] {"TERM", "INT"}) {
      Signal.handle(new Signal(name), signal -> new Thread(() -> {
        try {
          server.close();
        } catch (Exception e) {
          System.err.println("lamina: shutdown: " + e.getMessage());
        }
      }, "lamina-stop").start());
    }
    server.awaitTermination();
    Runtime.getRuntime().removeShutdownHook(hook);
    return 0;
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

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
