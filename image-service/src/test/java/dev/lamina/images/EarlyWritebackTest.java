package dev.lamina.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class EarlyWritebackTest {
  private static final long INTERVAL_MILLIS = 10;
  private static final Path LAYER = Path.of("/var/lib/lamina/snapshots/7/fs");

  private final BlockingQueue<Path> flushed = new LinkedBlockingQueue<>();
  private final BlockingQueue<Long> reported = new LinkedBlockingQueue<>();

  @Test
  void flushesOverAndOverWhileALayerUnpacksThenStops() throws Exception {
    try (EarlyWriteback w = new EarlyWriteback(flushed::add, INTERVAL_MILLIS, TimeUnit.MILLISECONDS, reported::add)) {
      long before = System.nanoTime();
      w.begin(LAYER);
      for (int i = 0; i < 3; i++) {
        assertThat(flushed.poll(10, TimeUnit.SECONDS)).isEqualTo(LAYER);
      }
      long first = reported.poll(10, TimeUnit.SECONDS);
      long second = reported.poll(10, TimeUnit.SECONDS);
      assertThat(first).isGreaterThanOrEqualTo(before);
      assertThat(second).isGreaterThan(first);

      w.end();
      quiet(); // the flush running when the layer ended may still land
      flushed.clear();
      assertThat(flushed.poll(20 * INTERVAL_MILLIS, TimeUnit.MILLISECONDS)).as("flush with nothing unpacking").isNull();
    }
  }

  @Test
  void keepsFlushingWhileAnyOfSeveralLayersUnpacks() throws Exception {
    Path other = Path.of("/var/lib/lamina/snapshots/8/fs");
    try (EarlyWriteback w = new EarlyWriteback(flushed::add, INTERVAL_MILLIS, TimeUnit.MILLISECONDS, reported::add)) {
      w.begin(LAYER);
      w.begin(other);
      w.end();
      // one flush may have taken the first directory before the second layer began
      Path first = flushed.poll(10, TimeUnit.SECONDS);
      assertThat(first).isIn(LAYER, other);
      for (int i = 0; i < 3; i++) {
        assertThat(flushed.poll(10, TimeUnit.SECONDS)).as("flush %d after one of two layers ended", i).isEqualTo(other);
      }
      w.end();
      quiet();
      flushed.clear();
      assertThat(flushed.poll(20 * INTERVAL_MILLIS, TimeUnit.MILLISECONDS)).isNull();
    }
  }

  @Test
  void quickFlushesStartNoMoreOftenThanTheInterval() throws Exception {
    long interval = 50;
    try (EarlyWriteback w = new EarlyWriteback(flushed::add, interval, TimeUnit.MILLISECONDS, reported::add)) {
      w.begin(LAYER);
      long previous = reported.poll(10, TimeUnit.SECONDS);
      for (int i = 0; i < 3; i++) {
        long next = reported.poll(10, TimeUnit.SECONDS);
        assertThat(next - previous).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(interval));
        previous = next;
      }
      w.end();
    }
  }

  @Test
  void nothingIsFlushedBeforeAnUnpackStarts() throws Exception {
    try (EarlyWriteback w = new EarlyWriteback(flushed::add, INTERVAL_MILLIS, TimeUnit.MILLISECONDS, reported::add)) {
      assertThat(flushed.poll(20 * INTERVAL_MILLIS, TimeUnit.MILLISECONDS)).isNull();
    }
  }

  @Test
  void aFailedFlushIsNotReportedAndTheNextOneStillRuns() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    AtomicInteger succeeded = new AtomicInteger();
    EarlyWriteback.Flusher failingFirst = dir -> {
      if (calls.incrementAndGet() == 1) {
        throw new IOException("syncfs " + dir + ": Input/output error");
      }
      succeeded.incrementAndGet();
      flushed.add(dir);
    };
    try (EarlyWriteback w = new EarlyWriteback(failingFirst, INTERVAL_MILLIS, TimeUnit.MILLISECONDS, reported::add)) {
      w.begin(LAYER);
      assertThat(flushed.poll(10, TimeUnit.SECONDS)).isEqualTo(LAYER);
      w.end();
      quiet();
      assertThat(calls.get()).isEqualTo(succeeded.get() + 1);
      assertThat(reported).hasSize(succeeded.get());
    }
  }

  @Test
  void endWithoutBeginIsAProgrammingError() {
    try (EarlyWriteback w = new EarlyWriteback(flushed::add, INTERVAL_MILLIS, TimeUnit.MILLISECONDS, reported::add)) {
      assertThatThrownBy(w::end).isInstanceOf(IllegalStateException.class);
    }
  }

  /** Waits until no flush has come for a while. */
  private void quiet() throws InterruptedException {
    while (flushed.poll(10 * INTERVAL_MILLIS, TimeUnit.MILLISECONDS) != null) {
      // drain
    }
  }
}
