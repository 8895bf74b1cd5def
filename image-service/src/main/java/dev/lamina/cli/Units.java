package dev.lamina.cli;

import java.time.Duration;
import java.util.Locale;

/** Human-readable sizes and rates for tables. */
final class Units {
  private Units() {}

  static String bytes(long n) {
    if (n < 1024) {
      return n + " B";
    }
    String[] units = {"KiB", "MiB", "GiB", "TiB"};
    double v = n;
    int i = -1;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return String.format(Locale.ROOT, "%.1f %s", v, units[i]);
  }

  static String seconds(Duration d) {
    return String.format(Locale.ROOT, "%.3fs", d.toNanos() / 1e9);
  }

  static String rate(long bytes, Duration d) {
    double s = Math.max(d.toNanos() / 1e9, 1e-9);
    return String.format(Locale.ROOT, "%.1f MB/s", bytes / 1e6 / s);
  }

  static String perSecond(long count, Duration d, String what) {
    double s = Math.max(d.toNanos() / 1e9, 1e-9);
    return String.format(Locale.ROOT, "%.0f %s/s", count / s, what);
  }
}
