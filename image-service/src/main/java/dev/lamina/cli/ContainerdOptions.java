package dev.lamina.cli;

import dev.lamina.containerd.ContainerdSettings;
import dev.lamina.errdefs.LaminaException;
import java.nio.file.Path;
import java.util.Optional;
import picocli.CommandLine.Option;

/** {@code lamina serve}'s link to containerd, the runtime that runs containers on lamina's images. */
final class ContainerdOptions {
  @Option(names = "--containerd-address", paramLabel = "PATH", defaultValue = "/run/containerd/containerd.sock",
      description = "containerd's socket. Every image lamina pulls is registered there (content, snapshots, image "
          + "records), so containerd runs containers on it and its garbage collector keeps it. An empty value "
          + "runs lamina standalone. Default: ${DEFAULT-VALUE}.")
  String address;

  @Option(names = "--containerd-namespace", paramLabel = "NAME", defaultValue = "k8s.io",
      description = "The containerd namespace images are registered in (containerd's CRI uses k8s.io). "
          + "Default: ${DEFAULT-VALUE}.")
  String namespace;

  @Option(names = "--containerd-snapshotter", paramLabel = "NAME", defaultValue = "lamina",
      description = "The name containerd knows lamina's snapshotter by: its [proxy_plugins.NAME] and the CRI "
          + "plugin's snapshotter. Default: ${DEFAULT-VALUE}.")
  String snapshotter;

  /** The link's settings, or empty in standalone mode. */
  Optional<ContainerdSettings> settings() throws LaminaException {
    if (address == null || address.isBlank()) {
      return Optional.empty();
    }
    if (namespace == null || namespace.isBlank() || snapshotter == null || snapshotter.isBlank()) {
      throw LaminaException.invalidArgument("--containerd-namespace and --containerd-snapshotter must not be empty "
          + "when --containerd-address is set");
    }
    return Optional.of(new ContainerdSettings(Path.of(address), namespace, snapshotter));
  }
}
