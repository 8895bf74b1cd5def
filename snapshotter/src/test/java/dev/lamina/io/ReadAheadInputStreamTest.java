package dev.lamina.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ReadAheadInputStreamTest {
  private static byte[] random(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }

  @Test
  void deliversEveryByteInOrderAcrossChunkBoundaries() throws IOException {
    byte[] data = random(1_000_003);
    try (ReadAheadInputStream in = new ReadAheadInputStream(new ByteArrayInputStream(data), 4096, 3, "t")) {
      byte[] first = new byte[10];
      assertThat(in.read(first)).isEqualTo(10);
      assertThat(in.read()).isEqualTo(data[10] & 0xff);
      byte[] rest = in.readAllBytes();
      assertThat(first).isEqualTo(Arrays.copyOf(data, 10));
      assertThat(rest).isEqualTo(Arrays.copyOfRange(data, 11, data.length));
      assertThat(in.read()).isEqualTo(-1);
    }
  }

  @Test
  void anErrorOfTheSourceReachesTheReaderAfterTheBytesBeforeIt() throws IOException {
    byte[] data = random(10_000);
    InputStream failing = new InputStream() {
      int pos;

      @Override
      public int read() throws IOException {
        if (pos == data.length) {
          throw new IOException("connection reset");
        }
        return data[pos++] & 0xff;
      }
    };
    try (ReadAheadInputStream in = new ReadAheadInputStream(failing, 1024, 2, "t")) {
      assertThat(in.readNBytes(data.length)).isEqualTo(data);
      assertThatThrownBy(in::read).isInstanceOf(IOException.class).hasMessage("connection reset");
    }
  }

  @Test
  void closeAndAwaitReturnsOnlyOnceNothingReadsTheSourceAnyMore() throws Exception {
    AtomicInteger readsAfterClose = new AtomicInteger();
    AtomicBoolean closed = new AtomicBoolean();
    CountDownLatch reading = new CountDownLatch(1);
    InputStream endless = new InputStream() {
      @Override
      public int read() {
        return 0;
      }

      @Override
      public int read(byte[] b, int off, int len) {
        reading.countDown();
        if (closed.get()) {
          readsAfterClose.incrementAndGet();
        }
        return Math.min(len, 512);
      }
    };
    ReadAheadInputStream in = new ReadAheadInputStream(endless, 4096, 2, "t");
    assertThat(reading.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(in.read(new byte[100])).isPositive();
    in.closeAndAwait();
    closed.set(true);
    Thread.sleep(50);
    assertThat(readsAfterClose).hasValue(0);
    assertThatThrownBy(in::read).isInstanceOf(IOException.class);
  }
}
