package dev.lamina.fstest;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.opentest4j.AssertionFailedError;

/**
 * Golden-tree assertions: compare two directories entry by entry and fail with one readable line
 * per difference, e.g. {@code usr/bin/x: mode 0755 != 0700} (expected on the left).
 */
public final class TreeAssert {
  /** Enough to see a pattern; the rest is only counted so a broken apply does not flood the log. */
  public static final int MAX_LINES = 50;

  private TreeAssert() {}

  public static void assertTreesEqual(Path expected, Path actual) throws IOException {
    assertTreesEqual(expected, actual, TreeSnapshot.Options.DEFAULT);
  }

  public static void assertTreesEqual(Path expected, Path actual, TreeSnapshot.Options options) throws IOException {
    check(TreeSnapshot.of(expected, options), TreeSnapshot.of(actual, options), expected + " and " + actual);
  }

  public static void assertSnapshotsEqual(TreeSnapshot expected, TreeSnapshot actual) {
    check(expected, actual, "snapshots");
  }

  private static void check(TreeSnapshot expected, TreeSnapshot actual, String what) {
    List<String> diffs = expected.differences(actual);
    if (diffs.isEmpty()) {
      return;
    }
    StringBuilder msg = new StringBuilder();
    msg.append(what).append(" differ in ").append(diffs.size()).append(diffs.size() == 1 ? " way" : " ways")
        .append(" (expected != actual):");
    diffs.stream().limit(MAX_LINES).forEach(line -> msg.append("\n  ").append(line));
    if (diffs.size() > MAX_LINES) {
      msg.append("\n  ... and ").append(diffs.size() - MAX_LINES).append(" more");
    }
    throw new AssertionFailedError(msg.toString());
  }
}
