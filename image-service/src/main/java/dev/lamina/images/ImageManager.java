package dev.lamina.images;

import dev.lamina.remotes.auth.Credentials;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The images lamina holds, as the CRI ImageService and the command line see them. Pulls are
 * shared: a second pull of a reference already being pulled joins the first.
 */
public interface ImageManager {
  /**
   * Pulls {@code reference} (normalized: {@code busybox} is {@code docker.io/library/busybox:latest})
   * and unpacks it into the snapshotter. Layers whose chain ID is already committed are neither
   * downloaded nor unpacked.
   */
  ImageRecord pull(String reference, Credentials credentials, PullListener listener) throws IOException;

  List<ImageRecord> list() throws IOException;

  /** By image ID ({@code sha256:...}, or its hex), by tag reference, or by digest reference. */
  Optional<ImageRecord> find(String idOrReference) throws IOException;

  /**
   * Removes the image and every name it has, then collects content and snapshots no image or
   * active snapshot uses. Removing an image that is not there succeeds.
   */
  void remove(String idOrReference) throws IOException;

  /**
   * Deletes what no image, active snapshot or pull needs any more (also done by {@link #remove});
   * for when something outside the image manager let go of a layer.
   */
  void collectGarbage() throws IOException;

  /** Usage of the image filesystem, from counters kept on commit and remove: never a walk. */
  FilesystemUsage usage() throws IOException;
}
