package dev.lamina.processor;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;

/**
 * One stage of turning a layer blob into a plain tar: it reads the previous stage and emits a
 * stream of {@link #mediaType()}. Closing a stage surfaces any error the stage saw (an external
 * program's exit status, for one).
 */
public interface StreamProcessor extends Closeable {
  /** The media type of what {@link #stream()} yields. */
  String mediaType();

  InputStream stream();

  /**
   * A stage that yields {@code in}, read from {@code previous}: closing it closes {@code in}, then
   * {@code previous} (which reports that stage's errors).
   */
  static StreamProcessor of(String mediaType, InputStream in, Closeable previous) {
    return new StreamProcessor() {
      @Override
      public String mediaType() {
        return mediaType;
      }

      @Override
      public InputStream stream() {
        return in;
      }

      @Override
      public void close() throws IOException {
        try {
          in.close();
        } finally {
          previous.close();
        }
      }
    };
  }

  /** Wraps a raw stream as the first stage of a chain. */
  static StreamProcessor of(String mediaType, InputStream in) {
    return of(mediaType, in, () -> { });
  }
}
