package dev.lamina.diff;

import dev.lamina.archive.Whiteouts;
import dev.lamina.compression.Compression;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SortedMap;

/**
 * Reads the changeset straight from an overlayfs upper directory, without walking the lower
 * layers: everything in the upper dir was added or copied up, so it is written as is; a char
 * device 0/0 becomes a {@code .wh.} whiteout, and a directory marked
 * {@code trusted.overlay.opaque=y} is followed by a {@code .wh..wh..opq} entry before its
 * contents. Applying the result onto the lower layers gives the merged view, like applying
 * {@link WalkingComparer}'s layer would, though the bytes may differ (one opaque marker where the
 * walk writes a whiteout per child; copied-up but unchanged files).
 *
 * <p>The upper dir must be one the kernel no longer writes (unmounted, or the snapshot is
 * committed) and must come from a mount without {@code redirect_dir} or {@code metacopy}: a
 * renamed directory or a metadata-only copy-up keeps its data in the lower layers, which this
 * comparer does not read, so it fails with FAILED_PRECONDITION instead of writing a wrong layer.
 */
public final class OverlayUpperComparer implements Comparer {
  private static final String OPAQUE_XATTR = Whiteouts.OVERLAY_OPAQUE_XATTR;
  private static final String REDIRECT_XATTR = Whiteouts.OVERLAY_XATTR_PREFIX + "redirect";
  private static final String METACOPY_XATTR = Whiteouts.OVERLAY_XATTR_PREFIX + "metacopy";
  /** Kernel 6.7+ "xwhiteout": a regular file with this xattr stands for a whiteout. */
  private static final String WHITEOUT_XATTR = Whiteouts.OVERLAY_XATTR_PREFIX + "whiteout";
  private static final byte[] YES = "y".getBytes(StandardCharsets.US_ASCII);

  public OverlayUpperComparer() {}

  /** Compares using only {@code upper}, an overlayfs upperdir; {@code lower} is not read. */
  @Override
  public DiffResult compare(Path lower, Path upper, Compression compression, OutputStream out) throws IOException {
    return compare(upper, compression, out);
  }

  /** Writes the layer that the overlayfs upper directory {@code upperdir} stands for. */
  public DiffResult compare(Path upperdir, Compression compression, OutputStream out) throws IOException {
    WalkingComparer.requireDirectory(upperdir, "upperdir");
    return LayerStream.write(compression, out, tar -> {
      ChangeWriter changes = new ChangeWriter(upperdir, tar);
      if (Arrays.equals(Posix.get().getxattr(upperdir, OPAQUE_XATTR).orElse(null), YES)) {
        changes.opaque(""); // a top-level .wh..wh..opq hides every lower layer
      }
      walk(changes, "", upperdir);
    });
  }

  private static void walk(ChangeWriter changes, String dir, Path dirPath) throws IOException {
    Posix posix = Posix.get();
    for (String child : Names.sorted(dirPath)) {
      String name = Names.child(dir, child);
      Path path = dirPath.resolve(child);
      FileStat st = posix.lstat(path);
      if (st.isOverlayWhiteout()) {
        changes.whiteout(name);
        continue;
      }
      if (st.type() == FileStat.S_IFSOCK) {
        continue;
      }
      SortedMap<String, byte[]> all = Xattrs.readAll(path);
      if (all.containsKey(REDIRECT_XATTR) || all.containsKey(METACOPY_XATTR)) {
        throw LaminaException.failedPrecondition(path + " is a redirected directory or a metacopy file: "
            + "its data lives in the lower layers; mount overlay with redirect_dir=off,metacopy=off "
            + "or compare with the walking comparer");
      }
      if (st.isRegularFile() && all.containsKey(WHITEOUT_XATTR)) {
        changes.whiteout(name);
        continue;
      }
      changes.change(name, path, st, Xattrs.forLayer(all));
      if (st.isDirectory()) {
        if (Arrays.equals(all.get(OPAQUE_XATTR), YES)) {
          changes.opaque(name);
        }
        walk(changes, name, path);
      }
    }
  }
}
