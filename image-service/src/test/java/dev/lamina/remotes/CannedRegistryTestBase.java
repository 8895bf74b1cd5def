package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.Fixtures;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.MediaTypes;
import dev.lamina.remotes.hosts.HostsConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** A canned registry on 127.0.0.1 reached over plain http, with fast retries. */
abstract class CannedRegistryTestBase {
  @TempDir Path tmp;
  CannedServer server;
  FakeRegistry registry;
  final MutableClock clock = new MutableClock();

  Descriptor layer;
  byte[] layerBytes;
  Descriptor config;
  Descriptor manifest;
  byte[] manifestBytes;

  @BeforeEach
  void startServer() throws Exception {
    server = new CannedServer();
    registry = new FakeRegistry(server);
    layerBytes = Fixtures.bytes(300_000, 1);
    layer = registry.putBlob(MediaTypes.OCI_LAYER_GZIP, layerBytes);
    byte[] cfg = Fixtures.config(List.of(layer.digest()), "amd64");
    config = registry.putBlob(MediaTypes.OCI_CONFIG, cfg);
    manifestBytes = Fixtures.manifest(MediaTypes.OCI_MANIFEST, config, List.of(layer));
    manifest = registry.putManifest("test/img", "v1", MediaTypes.OCI_MANIFEST, manifestBytes);
  }

  @AfterEach
  void stopServer() {
    server.close();
  }

  RegistryOptions options() throws Exception {
    return RegistryOptions.defaults()
        .withHosts(plainHttp(tmp.resolve("hosts"), server.authority()))
        .withRetries(3, Duration.ofMillis(5), Duration.ofMillis(20), Duration.ofSeconds(5))
        .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10))
        .withClock(clock);
  }

  /** A hosts directory whose only entry sends {@code authority} to plain http. */
  static HostsConfig plainHttp(Path dir, String authority) throws IOException {
    Path d = dir.resolve(authority);
    Files.createDirectories(d);
    Files.writeString(d.resolve("hosts.toml"), "server = \"http://" + authority + "\"\n");
    return HostsConfig.directory(dir);
  }

  RegistryClient client() throws Exception {
    return new RegistryClient(options());
  }

  ImageRef ref(String rest) throws LaminaException {
    return ImageRef.parse(server.authority() + "/" + rest);
  }

  static LaminaException failure(ThrowingRunnable r) {
    Throwable t = catchThrowable(r::run);
    assertThat(t).isInstanceOf(LaminaException.class);
    return (LaminaException) t;
  }

  static void assertKind(LaminaException e, ErrorKind kind) {
    assertThat(e.kind()).as(e.getMessage()).isEqualTo(kind);
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  /** A clock tests move by hand. */
  static final class MutableClock extends Clock {
    private volatile Instant now = Instant.parse("2025-01-01T00:00:00Z");

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public ZoneId getZone() {
      return ZoneId.of("UTC");
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }
}
