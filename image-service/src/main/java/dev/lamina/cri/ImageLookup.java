package dev.lamina.cri;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageRecord;
import dev.lamina.oci.ImageRef;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Finds the image that the {@code image} field of a CRI request names, the way containerd's
 * {@code LocalResolve} does:
 *
 * <ol>
 *   <li>a full image ID, {@code sha256:<64 hex>} or the bare 64 hex digits;
 *   <li>a reference, normalized ({@code busybox} is {@code docker.io/library/busybox:latest}), by
 *       tag or by digest;
 *   <li>failing that, a unique prefix of an image ID ({@code crictl images} prints 13 digits), with
 *       or without {@code sha256:}, of at least {@value #MIN_SHORT_ID} hex digits.
 * </ol>
 *
 * <p>Text that is none of these (empty, or not a valid reference) fails INVALID_ARGUMENT; an ID
 * prefix that matches more than one image fails INVALID_ARGUMENT too. An image that is simply not
 * there is an empty result, never an error: the caller decides what that means.
 */
final class ImageLookup {
  /** Shortest ID prefix accepted, as CRI-O's heuristic: shorter hex is too easy to type by accident. */
  static final int MIN_SHORT_ID = 3;

  private static final Pattern FULL_ID = Pattern.compile("(?:sha256:)?[a-f0-9]{64}|sha512:[a-f0-9]{128}");
  private static final Pattern SHORT_ID = Pattern.compile("(?:sha256:)?([a-f0-9]{" + MIN_SHORT_ID + ",64})");

  private final ImageManager images;

  ImageLookup(ImageManager images) {
    this.images = images;
  }

  /** Whether {@code text} is a complete image ID rather than something to resolve. */
  static boolean isFullId(String text) {
    return FULL_ID.matcher(text).matches();
  }

  /** The canonical form of a complete image ID: {@code sha256:<hex>}. */
  static String canonicalId(String text) throws LaminaException {
    return Digest.parse(text.indexOf(':') < 0 ? "sha256:" + text : text).toString();
  }

  Optional<ImageRecord> find(String text) throws IOException {
    if (text == null || text.isEmpty()) {
      throw LaminaException.invalidArgument("no image specified");
    }
    if (isFullId(text)) {
      return images.find(canonicalId(text));
    }
    ImageRef ref = null;
    LaminaException invalid = null;
    try {
      ref = ImageRef.parse(text);
    } catch (LaminaException e) {
      invalid = e;
    }
    if (ref != null) {
      Optional<ImageRecord> byRef = images.find(ref.toString());
      if (byRef.isPresent()) {
        return byRef;
      }
    }
    var shortId = SHORT_ID.matcher(text);
    if (shortId.matches()) {
      return byIdPrefix(text, shortId.group(1));
    }
    if (invalid != null) {
      throw invalid;
    }
    return Optional.empty();
  }

  private Optional<ImageRecord> byIdPrefix(String text, String prefix) throws IOException {
    List<ImageRecord> matches = new ArrayList<>();
    for (ImageRecord r : images.list()) {
      if (r.id().algorithm().equals("sha256") && r.id().hex().startsWith(prefix)) {
        matches.add(r);
      }
    }
    if (matches.size() > 1) {
      throw LaminaException.invalidArgument("image ID prefix \"" + text + "\" is ambiguous: it matches "
          + matches.size() + " images; give more digits");
    }
    return matches.stream().findFirst();
  }
}
