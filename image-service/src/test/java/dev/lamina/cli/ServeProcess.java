package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code lamina serve} in a JVM of its own (logging is set up once per JVM), on a private root and
 * sockets under {@code dir}, its standard output and error in {@code dir/serve.log}.
 */
final class ServeProcess implements AutoCloseable {
  private final Process process;
  private final Path log;
  private final Path socket;

  ServeProcess(Path dir, String... extra) throws Exception {
    socket = dir.resolve("cri.sock");
    log = dir.resolve("serve.log");
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), "serve", "--root", dir.resolve("root").toString(), "--socket", socket.toString(),
        "--snapshotter-socket", dir.resolve("snap.sock").toString(), "--snapshotter", "copying"));
    cmd.add("--containerd-address="); // standalone
    cmd.addAll(List.of(extra));
    process = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    for (int i = 0; i < 600 && !Files.exists(socket) && process.isAlive(); i++) {
      Thread.sleep(50);
    }
    assertThat(socket).as(log()).exists();
  }

  Path socket() {
    return socket;
  }

  String log() throws IOException {
    return Files.exists(log) ? Files.readString(log) : "";
  }

  /** Stops the daemon (SIGTERM) and returns its whole log. */
  String stop() throws Exception {
    process.destroy();
    assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(process.exitValue()).as(log()).isZero();
    return log();
  }

  @Override
  public void close() throws Exception {
    if (process.isAlive()) {
      process.destroyForcibly();
      process.waitFor(30, TimeUnit.SECONDS);
    }
  }
}
