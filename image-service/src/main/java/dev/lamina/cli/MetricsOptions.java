package dev.lamina.cli;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.metrics.Telemetry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/** {@code lamina serve}'s metrics, container sizes and pod labels. */
final class MetricsOptions {
  @Option(names = "--metrics-address", paramLabel = "HOST:PORT", defaultValue = "",
      description = "Serve Prometheus metrics (/metrics, Prometheus text or OpenMetrics), /healthz and /readyz "
          + "over HTTP here, e.g. 127.0.0.1:9464 (:9464 for every interface). Default: empty, no endpoint.")
  String metricsAddress;

  @Option(names = "--size-interval", paramLabel = "SECONDS", defaultValue = "10",
      description = "Pause between two measurements of every container's writable layer (SizeRw, SizeRootFs). "
          + "Default: ${DEFAULT-VALUE}.")
  long sizeIntervalSeconds;

  @Option(names = "--node-name", paramLabel = "NAME", defaultValue = "${env:NODE_NAME}",
      description = "This node's name in the API server: its pods label the container sizes. Default: $NODE_NAME.")
  String nodeName;

  @Option(names = "--kubeconfig", paramLabel = "FILE",
      description = "kubeconfig of the API server to watch pods on. Default: the in-cluster service account.")
  Path kubeconfig;

  /** The options as the server takes them; bad values fail the start, naming the flag. */
  Telemetry.Options options() throws LaminaException {
    if (sizeIntervalSeconds < 1) {
      throw LaminaException.invalidArgument("--size-interval must be at least 1 second");
    }
    if (kubeconfig != null && !Files.isReadable(kubeconfig)) {
      throw LaminaException.invalidArgument("--kubeconfig " + kubeconfig + " is not a readable file");
    }
    try {
      return new Telemetry.Options(metricsAddress, Duration.ofSeconds(sizeIntervalSeconds), nodeName, kubeconfig);
    } catch (IllegalArgumentException e) {
      throw LaminaException.invalidArgument("--metrics-address: " + e.getMessage());
    }
  }
}
