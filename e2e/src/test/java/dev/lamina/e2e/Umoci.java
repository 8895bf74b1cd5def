package dev.lamina.e2e;

import dev.lamina.fstest.Root;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * Drives Debian's umoci (0.4.x) over one tagged image of an OCI image layout: each {@link
 * #layer} unpacks the image into a fresh bundle, lets the caller change the rootfs, and repacks
 * the difference as a new layer (umoci writes whiteouts for what was deleted). {@link #unpack}
 * is the oracle: umoci's own reading of the layers.
 */
final class Umoci {
  static final String MISSING = "umoci not installed (apt-get install umoci)";

  /** A change to an unpacked rootfs that becomes one layer. */
  @FunctionalInterface
  interface RootfsChange {
    void apply(Path rootfs) throws Exception;
  }

  private final Path layout;
  private final String tag;
  private final Path scratch;
  private int bundles;
  private Path lastPacked;

  private Umoci(Path layout, String tag, Path scratch) {
    this.layout = layout;
    this.tag = tag;
    this.scratch = scratch;
  }

  static boolean installed() {
    return Commands.succeeds("umoci", "--version");
  }

  static void assumeInstalled() {
    Assumptions.assumeTrue(installed(), MISSING);
  }

  /** A new layout at {@code layout} holding one empty image tagged {@code tag}; bundles go under {@code scratch}. */
  static Umoci create(Path layout, String tag, Path scratch) throws IOException {
    Commands.run("umoci", "init", "--layout", layout.toString()).check();
    Umoci umoci = new Umoci(layout, tag, scratch);
    Commands.run("umoci", "new", "--image", umoci.image()).check();
    return umoci;
  }

  Path layout() {
    return layout;
  }

  String tag() {
    return tag;
  }

  /** The image reference umoci takes: {@code path:tag}. */
  String image() {
    return layout + ":" + tag;
  }

  /** Unpacks the image into a new bundle directory; the tree is {@code bundle/rootfs}. */
  void unpack(Path bundle) throws IOException {
    List<String> cmd = new ArrayList<>(List.of("umoci", "unpack"));
    if (!Root.isRoot()) {
      cmd.add("--rootless");
    }
    cmd.addAll(List.of("--image", image(), bundle.toString()));
    Commands.run(null, Commands.DEFAULT_TIMEOUT, cmd).check();
  }

  void repack(Path bundle) throws IOException {
    Commands.run("umoci", "repack", "--image", image(), bundle.toString()).check();
  }

  /** Adds one layer: unpack, {@code change} the rootfs, repack. */
  void layer(RootfsChange change) throws Exception {
    Path bundle = scratch.resolve("bundle-" + (++bundles));
    unpack(bundle);
    change.apply(bundle.resolve("rootfs"));
    repack(bundle);
    lastPacked = bundle.resolve("rootfs");
  }

  /** The rootfs the top layer was packed from, or null when the top layer was added raw (or none yet). */
  Path lastPacked() {
    return lastPacked;
  }

  /**
   * Tags the image {@code newTag} as well ({@code umoci tag}) and returns a driver of that tag, with
   * bundles under {@code scratch/newTag}: what it adds or configures leaves this tag as it is.
   */
  Umoci tag(String newTag) throws IOException {
    Commands.run("umoci", "tag", "--image", image(), newTag).check();
    return new Umoci(layout, newTag, Files.createDirectories(scratch.resolve(newTag)));
  }

  /**
   * Changes the image's config with {@code umoci config} options, e.g. {@code "--config.user",
   * "1000:1000"} or {@code "--architecture", "arm64"}: a new config and manifest, the same layers.
   */
  void config(String... options) throws IOException {
    List<String> cmd = new ArrayList<>(List.of("umoci", "config", "--image", image()));
    cmd.addAll(List.of(options));
    Commands.run(null, Commands.DEFAULT_TIMEOUT, cmd).check();
  }

  /** Appends an uncompressed layer tar verbatim ({@code umoci raw add-layer} gzips it and records its diff ID). */
  void addRawLayer(Path tar) throws IOException {
    Commands.run("umoci", "raw", "add-layer", "--image", image(), tar.toString()).check();
    lastPacked = null;
  }
}
