package dev.lamina.testing;

import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.TestExecutionResult.Status;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Prints every skipped test or class with its reason, at once and again in a list at the end of
 * the run, so that a run on a machine without root, overlayfs or a program says what it did not
 * test (surefire itself only counts skips). Registered through {@code META-INF/services}.
 */
public final class SkipReasons implements TestExecutionListener {
  private final List<String> skipped = new ArrayList<>();
  private TestPlan plan;

  @Override
  public void testPlanExecutionStarted(TestPlan testPlan) {
    plan = testPlan;
    skipped.clear();
  }

  @Override
  public void executionSkipped(TestIdentifier test, String reason) {
    record(test, "disabled: " + reason);
  }

  @Override
  public void executionFinished(TestIdentifier test, TestExecutionResult result) {
    if (result.getStatus() == Status.ABORTED) {
      record(test, result.getThrowable().map(t -> firstLine(t.getMessage())).orElse("assumption not met"));
    }
  }

  @Override
  public void testPlanExecutionFinished(TestPlan testPlan) {
    if (!skipped.isEmpty()) {
      System.out.println("[SKIPPED] " + skipped.size() + " skipped in this run:");
      skipped.forEach(s -> System.out.println("[SKIPPED]   " + s));
    }
  }

  private synchronized void record(TestIdentifier test, String reason) {
    String line = name(test) + ": " + reason;
    skipped.add(line);
    System.out.println("[SKIPPED] " + line);
  }

  private String name(TestIdentifier test) {
    String parent = plan == null ? "" : plan.getParent(test).map(TestIdentifier::getDisplayName).orElse("");
    return parent.isEmpty() || parent.startsWith("JUnit") ? test.getDisplayName() : parent + "." + test.getDisplayName();
  }

  private static String firstLine(String s) {
    return s == null ? "assumption not met" : s.lines().findFirst().orElse("");
  }
}
