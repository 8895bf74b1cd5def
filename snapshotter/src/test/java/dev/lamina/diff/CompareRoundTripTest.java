package dev.lamina.diff;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.TarApplier;
import dev.lamina.compression.Compression;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.RandomTrees;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.stream.LongStream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Applying {@code compare(a, b)} onto a copy of {@code a} gives {@code b}, mtimes included, for
 * many random pairs; and applying the layer read from an overlay upper dir onto its lower gives
 * the merged view.
 */
class CompareRoundTripTest {
  private static final TreeSnapshot.Options TREES = TreeSnapshot.Options.DEFAULT.withMtimes();
  private static final Compression[] COMPRESSIONS = Compression.values();

  @TempDir Path tmp;

  static LongStream seeds() {
    return LongStream.rangeClosed(1, 30);
  }

  /** b is a copy of a (same inodes shared, same times) with the mutations on top: few entries. */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void walkingDiffOfACopy(long seed) throws IOException {
    RandomTrees.Pair pair = RandomTrees.generate(seed, RandomTrees.Options.forCurrentUser());
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    FsTree.apply(a, pair.a());
    Layers.copyTree(a, b);
    FsTree.apply(b, pair.mutations());

    Layers.Written layer = Layers.walk(a, b, COMPRESSIONS[(int) (seed % COMPRESSIONS.length)]);

    Layers.assertWellFormed(layer);
    assertApplied(pair, a, layer, TreeSnapshot.of(b, TREES));
  }

  /** b built from scratch at another time: every mtime differs, so most of b is in the layer. */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void walkingDiffOfSeparateTrees(long seed) throws IOException {
    RandomTrees.Pair pair = RandomTrees.generate(seed, RandomTrees.Options.forCurrentUser());
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    FsTree.apply(a, pair.a());
    FsTree.apply(b, pair.b());

    Layers.Written layer = Layers.walk(a, b);

    Layers.assertWellFormed(layer);
    assertApplied(pair, a, layer, TreeSnapshot.of(b, TREES));
  }

  /** The mutations run through an overlay mount; both comparers' layers must rebuild the merged view. */
  @ParameterizedTest(name = "seed {0}")
  @MethodSource("seeds")
  void overlayUpperDir(long seed) throws IOException {
    assumeTrue(Posix.get().isRoot(), "needs root for overlay mounts and whiteout devices");
    RandomTrees.Pair pair = RandomTrees.generate(seed, RandomTrees.Options.forCurrentUser());
    try (OverlayMount overlay = new OverlayMount(tmp)) {
      FsTree.apply(overlay.lower, pair.a());
      overlay.mount();
      FsTree.apply(overlay.merged, pair.mutations());
      TreeSnapshot merged = TreeSnapshot.of(overlay.merged, TREES);
      Layers.Written walked = Layers.walk(overlay.lower, overlay.merged);
      overlay.unmount();

      Layers.Written fromUpper = Layers.overlay(overlay.upper);

      Layers.assertWellFormed(fromUpper);
      Layers.assertWellFormed(walked);
      assertApplied(pair, overlay.lower, fromUpper, merged);
      assertApplied(pair, overlay.lower, walked, merged);
    }
  }

  private void assertApplied(RandomTrees.Pair pair, Path base, Layers.Written layer, TreeSnapshot expected)
      throws IOException {
    Path target = tmp.resolve("applied-" + System.nanoTime());
    Layers.copyTree(base, target);
    try (InputStream in = layer.uncompressed()) {
      new TarApplier(ApplyOptions.defaults()).apply(in, target);
    } catch (IOException | RuntimeException e) {
      throw new AssertionError(pair + ": applying " + layer.names() + " failed: " + e, e);
    }
    try {
      TreeAssert.assertSnapshotsEqual(expected, TreeSnapshot.of(target, TREES));
    } catch (AssertionError e) {
      throw new AssertionError(pair + ", layer " + layer.names() + ": " + e.getMessage(), e);
    }
  }
}
