package dev.lamina.images;

import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import java.util.Optional;

/**
 * The snapshots the image manager made: its committed layers and its pulls' extraction
 * snapshots. It alone removes them (its garbage collection, once no image, pull or lease needs
 * one), so a Remove from elsewhere, containerd's garbage collector above all, is refused.
 */
public final class OwnedSnapshots {
  private OwnedSnapshots() {}

  /** Why {@code snapshot} must stay, or empty when the image manager did not make it. */
  public static Optional<String> whyKept(Info snapshot) {
    if (!ContentBlobs.OWNER.equals(snapshot.labels().get(ContentBlobs.OWNER_LABEL))) {
      return Optional.empty();
    }
    if (snapshot.kind() == Kind.COMMITTED) {
      return Optional.of("it is a layer of lamina's image store; lamina removes it once no image it holds needs it");
    }
    return Optional.of("a lamina pull is unpacking a layer into it");
  }
}
