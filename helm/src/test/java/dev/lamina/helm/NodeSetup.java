package dev.lamina.helm;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.EnvVar;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The chart's node-setup.sh as the DaemonSet runs it: the script, lamina.toml and lamina.service
 * from the rendered ConfigMap, the environment of the rendered init container, with the node's
 * root at {@code host} instead of /host, and a stand-in for {@code nsenter ... --} that records
 * the host commands (systemctl) instead of running them.
 */
public final class NodeSetup {
  public final Path host;
  public final Path chartDir;
  public final Path hostCommands;
  public final Map<String, String> env = new HashMap<>();

  private NodeSetup(Path host, Path chartDir, Path hostCommands) {
    this.host = host;
    this.chartDir = chartDir;
    this.hostCommands = hostCommands;
  }

  /**
   * Renders the chart with {@code values} and lays its node setup out under {@code dir}. lamina's
   * state and run directories (which the pod mounts at their own paths) are {@code dir/state} and
   * {@code dir/run}.
   */
  public static NodeSetup of(Path dir, Object... values) throws IOException {
    Path run = dir.resolve("run");
    Path state = dir.resolve("state");
    List<Object> all = new ArrayList<>(List.of("host.runDir", run.toString(), "host.stateDir", state.toString(),
        "config.root", state.toString(), "config.socket", run.resolve("lamina.sock").toString(),
        "config.snapshotter-socket", run.resolve("snapshotter.sock").toString()));
    all.addAll(List.of(values));
    Chart.Rendered r = Chart.render(all.toArray());
    Path host = Files.createDirectories(dir.resolve("host"));
    Path chartDir = Files.createDirectories(dir.resolve("chart"));
    ConfigMap cm = r.configMap();
    for (String name : List.of("node-setup.sh", "lamina.toml", "lamina.service")) {
      Files.writeString(chartDir.resolve(name), cm.getData().get(name));
    }
    Path log = dir.resolve("host-commands.log");
    Path stub = dir.resolve("on-host");
    Files.writeString(stub, "#!/bin/sh\necho \"$*\" >> '" + log + "'\n");
    stub.toFile().setExecutable(true);
    NodeSetup setup = new NodeSetup(host, chartDir, log);
    List<EnvVar> initEnv = r.daemonSet().getSpec().getTemplate().getSpec().getInitContainers().get(0).getEnv();
    for (EnvVar e : initEnv) {
      if (e.getValue() != null) {
        setup.env.put(e.getName(), e.getValue());
      }
    }
    setup.env.put("HOST", host.toString());
    setup.env.put("CHART_DIR", chartDir.toString());
    setup.env.put("HOST_EXEC", stub.toString());
    setup.env.put("NODE_NAME", "node-1");
    setup.env.put("NAMESPACE", Chart.NAMESPACE);
    setup.env.put("SA_DIR", dir.resolve("serviceaccount").toString());
    setup.env.put("SOCKET_WAIT_SECONDS", "5");
    return setup;
  }

  public Path criSocket() {
    return Path.of(env.get("CRI_SOCKET"));
  }

  /** A path of the node. */
  public Path onHost(String absolute) {
    return host.resolve(absolute.substring(1));
  }

  public record Run(int exitCode, String output) {}

  public Run run(String... args) throws IOException, InterruptedException {
    Process p = start(args);
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("node-setup.sh " + String.join(" ", args) + " did not finish:\n" + out);
    }
    return new Run(p.exitValue(), out);
  }

  public Run check(String... args) throws IOException, InterruptedException {
    Run r = run(args);
    if (r.exitCode() != 0) {
      throw new AssertionError("node-setup.sh " + String.join(" ", args) + " exited " + r.exitCode() + ":\n" + r.output());
    }
    return r;
  }

  /** Starts the script with its output going to {@code log}. */
  public Process start(Path log, String... args) throws IOException {
    return builder(args).redirectOutput(log.toFile()).start();
  }

  private Process start(String... args) throws IOException {
    return builder(args).start();
  }

  private ProcessBuilder builder(String... args) {
    List<String> command = new ArrayList<>(List.of("/bin/bash", chartDir.resolve("node-setup.sh").toString()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().putAll(env);
    return pb;
  }

  /** The host commands run so far, one per line, and forgets them. */
  public List<String> takeHostCommands() throws IOException {
    if (!Files.exists(hostCommands)) {
      return List.of();
    }
    List<String> lines = Files.readAllLines(hostCommands);
    Files.delete(hostCommands);
    return lines;
  }

  /** A listening unix socket at {@code path}, as lamina's CRI socket would be. */
  public static ServerSocketChannel listen(Path path) throws IOException {
    Files.createDirectories(path.getParent());
    ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    ch.bind(UnixDomainSocketAddress.of(path));
    return ch;
  }
}
