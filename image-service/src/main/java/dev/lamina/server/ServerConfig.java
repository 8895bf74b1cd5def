package dev.lamina.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Everything the server is configured with.
 *
 * @param root where state lives ({@code metadata.db}, {@code snapshots/}, {@code content/})
 * @param snapshotterSocket where containerd's Snapshots and Diff APIs are served (containerd's
 *     {@code proxy_plugins} address)
 * @param criSocket where the CRI ImageService will be served (kubelet's
 *     {@code --image-service-endpoint}); served when the server has an image manager
 * @param snapshotter which snapshotter to run
 * @param snapshotterName the name requests must carry in their {@code snapshotter} field, or null
 *     to accept any (containerd sends its proxy plugin's name)
 * @param differs differ names in the order they are tried (containerd's {@code diff-service.default})
 * @param threads threads that run RPCs (blocking filesystem work)
 * @param queue RPCs that may wait for a thread; beyond that calls are refused
 * @param shutdownGrace how long a shutdown waits for calls in flight before cancelling them
 */
public record ServerConfig(
    Path root,
    Path snapshotterSocket,
    Path criSocket,
    SnapshotterKind snapshotter,
    String snapshotterName,
    List<String> differs,
    int threads,
    int queue,
    Duration shutdownGrace) {
  public static final Path DEFAULT_ROOT = Path.of("/var/lib/lamina");
  public static final Path DEFAULT_SNAPSHOTTER_SOCKET = Path.of("/run/lamina/snapshotter.sock");
  public static final Path DEFAULT_CRI_SOCKET = Path.of("/run/lamina/lamina.sock");
  public static final Duration DEFAULT_SHUTDOWN_GRACE = Duration.ofSeconds(10);

  public ServerConfig {
    Objects.requireNonNull(root, "root");
    Objects.requireNonNull(snapshotterSocket, "snapshotterSocket");
    Objects.requireNonNull(criSocket, "criSocket");
    Objects.requireNonNull(snapshotter, "snapshotter");
    root = root.toAbsolutePath().normalize();
    snapshotterSocket = snapshotterSocket.toAbsolutePath().normalize();
    criSocket = criSocket.toAbsolutePath().normalize();
    differs = List.copyOf(differs);
    if (differs.isEmpty()) {
      throw new IllegalArgumentException("at least one differ is needed");
    }
    if (threads < 1 || queue < 0) {
      throw new IllegalArgumentException("threads must be positive and queue not negative");
    }
    if (shutdownGrace.isNegative()) {
      throw new IllegalArgumentException("negative shutdown grace");
    }
  }

  public static ServerConfig defaults() {
    return new ServerConfig(DEFAULT_ROOT, DEFAULT_SNAPSHOTTER_SOCKET, DEFAULT_CRI_SOCKET, SnapshotterKind.AUTO, null,
        List.of("walking"), Math.max(4, 2 * Runtime.getRuntime().availableProcessors()), 1024,
        DEFAULT_SHUTDOWN_GRACE);
  }

  public ServerConfig withRoot(Path p) {
    return new ServerConfig(p, snapshotterSocket, criSocket, snapshotter, snapshotterName, differs, threads, queue,
        shutdownGrace);
  }

  public ServerConfig withSnapshotterSocket(Path p) {
    return new ServerConfig(root, p, criSocket, snapshotter, snapshotterName, differs, threads, queue, shutdownGrace);
  }

  public ServerConfig withCriSocket(Path p) {
    return new ServerConfig(root, snapshotterSocket, p, snapshotter, snapshotterName, differs, threads, queue,
        shutdownGrace);
  }

  public ServerConfig withSnapshotter(SnapshotterKind k) {
    return new ServerConfig(root, snapshotterSocket, criSocket, k, snapshotterName, differs, threads, queue,
        shutdownGrace);
  }

  public ServerConfig withShutdownGrace(Duration d) {
    return new ServerConfig(root, snapshotterSocket, criSocket, snapshotter, snapshotterName, differs, threads, queue,
        d);
  }
}
