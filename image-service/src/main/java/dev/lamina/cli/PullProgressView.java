package dev.lamina.cli;

import dev.lamina.api.v1.LayerProgress;
import dev.lamina.api.v1.PullProgress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code lamina pull} shows of a pull's progress: a line per layer (state, bytes of total,
 * rate), an overall line, and the summary at the end. Rates are measured here, over the last
 * {@link #RATE_WINDOW} of the snapshots seen, so a stalled download reads as a falling rate.
 */
final class PullProgressView {
  static final Duration RATE_WINDOW = Duration.ofSeconds(2);

  private record Sample(long nanos, long bytes) {}

  private final Map<String, Deque<Sample>> samples = new HashMap<>();
  private final Deque<Sample> overall = new ArrayDeque<>();

  /** The lines to show now for {@code p}, seen at {@code nowNanos} (any monotonic clock), {@code elapsed} into the pull. */
  List<String> lines(PullProgress p, long nowNanos, Duration elapsed) {
    List<String> lines = new ArrayList<>();
    if (p == null || p.getManifestDigest().isEmpty()) {
      lines.add(String.format(Locale.ROOT, "Resolving %s  %s", p == null ? "" : p.getReference(), clock(elapsed)));
      return lines;
    }
    int finished = 0;
    long done = 0;
    long total = 0;
    for (LayerProgress l : p.getLayersList()) {
      String state = l.getState().name().toLowerCase(Locale.ROOT);
      String line = switch (l.getState()) {
        case DOWNLOADING, UNPACKING -> String.format(Locale.ROOT, "  %-12s  %-11s  %s / %s  %s", shortDigest(l),
            state, Units.bytes(l.getDownloaded()), Units.bytes(l.getSize()),
            rate(sampled(samples.computeIfAbsent(l.getDigest(), d -> new ArrayDeque<>()), nowNanos, l.getDownloaded())));
        default -> String.format(Locale.ROOT, "  %-12s  %-11s  %s", shortDigest(l), state, Units.bytes(l.getSize()));
      };
      lines.add(line.stripTrailing());
      if (l.getState() == LayerProgress.State.DONE || l.getState() == LayerProgress.State.REUSED) {
        finished++;
      }
      if (l.getState() != LayerProgress.State.REUSED) {
        done += l.getDownloaded();
        total += l.getSize();
      }
    }
    lines.add(String.format(Locale.ROOT, "Pulling %s  %d/%d layers  %s / %s  %s  %s", p.getReference(), finished,
        p.getLayersCount(), Units.bytes(done), Units.bytes(total), rate(sampled(overall, nowNanos, done)), clock(elapsed)));
    return lines;
  }

  /**
   * The line printed when the pull is over. "Image is up to date" only when the reference named
   * this image already and nothing was fetched, as docker and crictl mean it.
   */
  static String summary(PullProgress last) {
    int fetched = 0;
    int reused = 0;
    long bytes = 0;
    for (LayerProgress l : last.getLayersList()) {
      if (l.getState() == LayerProgress.State.REUSED) {
        reused++;
      } else {
        fetched++;
        bytes += l.getDownloaded();
      }
    }
    if (last.getAlreadyPresent() && fetched == 0) {
      return "Image is up to date for " + last.getImageId();
    }
    Duration elapsed = Duration.ofNanos(last.getElapsedNanos());
    return String.format(Locale.ROOT, "Pulled %s in %s: %s fetched (%s), %d reused; image %s", last.getReference(),
        clock(elapsed), plural(fetched, "layer"), Units.bytes(bytes), reused, last.getImageId());
  }

  private static String plural(int n, String what) {
    return n + " " + what + (n == 1 ? "" : "s");
  }

  private static String shortDigest(LayerProgress l) {
    String d = l.getDigest();
    int colon = d.indexOf(':');
    String hex = colon < 0 ? d : d.substring(colon + 1);
    return hex.length() > 12 ? hex.substring(0, 12) : hex;
  }

  static String clock(Duration d) {
    return String.format(Locale.ROOT, "%.1fs", d.toMillis() / 1000.0);
  }

  /** Bytes per second over the window, or -1 before there are two samples far enough apart. */
  private static double sampled(Deque<Sample> window, long nowNanos, long bytes) {
    Sample last = window.peekLast();
    if (last == null || last.bytes() != bytes || nowNanos - last.nanos() > RATE_WINDOW.toNanos() / 4) {
      window.addLast(new Sample(nowNanos, bytes));
    }
    while (window.size() > 2 && nowNanos - window.peekFirst().nanos() > RATE_WINDOW.toNanos()) {
      window.removeFirst();
    }
    Sample first = window.peekFirst();
    long dt = nowNanos - first.nanos();
    if (dt < RATE_WINDOW.toNanos() / 10) {
      return -1;
    }
    return (bytes - first.bytes()) * 1e9 / dt;
  }

  private static String rate(double bytesPerSecond) {
    return bytesPerSecond < 0 ? "" : Units.bytes((long) bytesPerSecond) + "/s";
  }
}
