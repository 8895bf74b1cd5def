package dev.lamina.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.cli.CommandRun;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.metrics.Telemetry;
import dev.lamina.remotes.RegistryOptions;
import io.grpc.ManagedChannel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon with its telemetry: containerd's snapshot calls timed on the real socket, container
 * sizes swept in the background and shown by {@code lamina ps} and on {@code /metrics}, series
 * gone with their snapshot.
 */
class ServerTelemetryTest {
  @TempDir Path tmp;
  EventLoopGroup loop = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
  ManagedChannel channel;
  Server server;

  @AfterEach
  void stop() throws Exception {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.close();
    }
    loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
  }

  @Test
  void snapshotCallsAndContainerSizesReachPsAndMetrics() throws Exception {
    ServerConfig config = ServerConfig.defaults().withRoot(tmp.resolve("state"))
        .withSnapshotterSocket(tmp.resolve("run/snapshotter.sock")).withCriSocket(tmp.resolve("run/lamina.sock"))
        .withSnapshotter(SnapshotterKind.COPYING).withShutdownGrace(Duration.ofSeconds(1));
    server = Server.create(config, Server.localImageManager(o -> o, RegistryOptions.defaults()),
        new Telemetry.Options("127.0.0.1:0", Duration.ofMillis(100), "", null));
    server.start();
    channel = UnixSockets.channel(config.snapshotterSocket(), loop);
    var snapshots = SnapshotsGrpc.newBlockingStub(channel);
    Path big = Path.of(snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("default/4/big").build())
        .getMounts(0).getSource());
    Files.write(big.resolve("data"), new byte[2_000_000]);
    snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("default/5/small").build());
    catchThrowable(() -> snapshots.stat(StatSnapshotRequest.newBuilder().setKey("missing").build()));

    String cri = config.criSocket().toString();
    JsonNode ps = waitFor(() -> json(CommandRun.of("ps", "--socket", cri, "--json").out()),
        j -> j.path("containers").size() == 2 && j.path("containers").get(0).path("sizeRw").asLong() > 2_000_000);
    assertThat(ps.path("containers").get(0).path("containerId").asText()).isEqualTo("big");
    assertThat(ps.path("containers").get(1).path("containerId").asText()).isEqualTo("small");
    CommandRun table = CommandRun.of("ps", "--socket", cri);
    assertThat(table.exit()).isZero();
    assertThat(table.out().lines().toList()).hasSize(3);
    assertThat(table.out().lines().skip(1).findFirst().orElseThrow()).startsWith("big").contains("2.0");

    String metrics = scrape();
    assertThat(metrics)
        .contains("lamina_snapshot_operation_duration_seconds_count{code=\"OK\",operation=\"prepare\"} 2")
        .contains("lamina_snapshot_operation_duration_seconds_count{code=\"NOT_FOUND\",operation=\"stat\"} 1")
        .contains("container_id=\"big\"").contains("container_id=\"small\"");

    snapshots.remove(RemoveSnapshotRequest.newBuilder().setKey("default/5/small").build());
    waitFor(this::scrape, m -> !m.contains("container_id=\"small\""));
    assertThat(scrape()).contains("container_id=\"big\"");
    assertThat(json(CommandRun.of("ps", "--socket", cri, "--json").out()).path("containers").size()).isEqualTo(1);
  }

  String scrape() throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
        URI.create("http://127.0.0.1:" + server.telemetry().metricsPort() + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }

  static JsonNode json(String s) throws Exception {
    return new ObjectMapper().readTree(s);
  }

  interface Get<T> {
    T get() throws Exception;
  }

  static <T> T waitFor(Get<T> get, Predicate<T> ok) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    T last = get.get();
    while (!ok.test(last)) {
      assertThat(System.nanoTime()).as("still %s", last).isLessThan(deadline);
      Thread.sleep(100);
      last = get.get();
    }
    return last;
  }
}
