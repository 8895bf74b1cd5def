package dev.lamina.content;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.digest.Digest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LocalContentStoreTest extends ContentStoreConformanceTest {
  @Override
  Store create(Path root) throws IOException {
    return LocalContentStore.open(root.resolve("content"));
  }

  @Test
  void layoutOnDisk() throws IOException {
    byte[] data = bytes("on disk");
    try (Writer w = store.writer("layout", -1, null)) {
      w.write(data, 0, 3);
      Path ingest = root.resolve("content/ingest");
      try (var dirs = Files.list(ingest)) {
        Path dir = dirs.findFirst().orElseThrow();
        assertThat(dir.getFileName().toString()).matches("[0-9a-f]{64}");
        assertThat(Files.readString(dir.resolve("ref"))).isEqualTo("layout");
        assertThat(Files.size(dir.resolve("data"))).isEqualTo(3);
      }
      w.write(data, 3, data.length - 3);
      w.commit(-1, null, Map.of());
    }
    Digest d = Digest.sha256Of(data);
    Path blob = root.resolve("content/blobs/sha256").resolve(d.hex());
    assertThat(blob).hasBinaryContent(data);
    assertThat(Files.getPosixFilePermissions(blob)).isEqualTo(PosixFilePermissions.fromString("r--r--r--"));
    try (var left = Files.list(root.resolve("content/ingest"))) {
      assertThat(left).isEmpty();
    }
    assertThat(root.resolve("content/labels.db")).exists();
  }

  @Test
  void blobWithoutLabelRowStillHasInfo() throws IOException {
    // A crash between publishing a blob and recording its labels leaves a blob with no row.
    byte[] data = bytes("orphan");
    Digest d = Digest.sha256Of(data);
    Path blob = root.resolve("content/blobs/sha256").resolve(d.hex());
    Files.write(blob, data);
    assertThat(store.info(d).labels()).isEmpty();
    assertThat(store.info(d).size()).isEqualTo(data.length);
  }
}
