package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** A blob's digest and size are checked at its end, however the end is reached. */
class VerifyingInputStreamTest {
  private final byte[] blob = "some blob content".getBytes(StandardCharsets.UTF_8);

  private VerifyingInputStream over(byte[] content) {
    return new VerifyingInputStream(new ByteArrayInputStream(content),
        Descriptor.of("application/octet-stream", Digest.sha256Of(blob), blob.length));
  }

  @Test
  void skippingToTheEndOfTheRightBlobPasses() throws IOException {
    VerifyingInputStream in = over(blob);

    assertThat(in.skip(0)).isZero();
    assertThat(in.skip(blob.length + 10)).isEqualTo(blob.length);
    assertThat(in.read()).isEqualTo(-1);
    assertThat(in.count()).isEqualTo(blob.length);
  }

  @Test
  void skippingToTheEndOfAnotherBlobIsDataLoss() {
    byte[] other = blob.clone();
    other[0] ^= 1;
    VerifyingInputStream in = over(other);

    assertThatThrownBy(() -> in.skip(blob.length + 10))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.DATA_LOSS))
        .hasMessageContaining("digest mismatch");
  }

  @Test
  void readingAShortBlobToItsEndIsDataLoss() {
    VerifyingInputStream in = over(Arrays.copyOf(blob, blob.length - 1));

    assertThatThrownBy(in::readAllBytes)
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.DATA_LOSS))
        .hasMessageContaining("bytes, want " + blob.length);
  }
}
