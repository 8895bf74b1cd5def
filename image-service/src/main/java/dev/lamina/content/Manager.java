package dev.lamina.content;

import dev.lamina.digest.Digest;
import java.io.IOException;
import java.util.List;
import java.util.function.Consumer;

/** Inspects, labels and deletes committed content (containerd's {@code content.Manager}). */
public interface Manager {
  /** @throws dev.lamina.errdefs.LaminaException NOT_FOUND when no blob has this digest */
  Info info(Digest digest) throws IOException;

  /**
   * Changes the labels of {@code info.digest()}, the only mutable part. Field paths are
   * {@code labels} (replace all) or {@code labels.KEY} (set KEY, or remove it when absent from
   * {@code info}); no field path replaces all labels.
   */
  Info update(Info info, List<String> fieldPaths) throws IOException;

  /**
   * Calls {@code fn} for each blob matching any of {@code filters} (all blobs when there are
   * none). A filter is containerd's syntax: comma-separated conditions that must all hold, each
   * {@code FIELD}, {@code FIELD==VALUE} or {@code FIELD!=VALUE} on {@code digest}, {@code size} or
   * {@code labels.KEY} ({@code labels."KEY"} quotes a key with dots or commas).
   */
  void walk(Consumer<Info> fn, List<String> filters) throws IOException;

  /** @throws dev.lamina.errdefs.LaminaException NOT_FOUND when no blob has this digest */
  void delete(Digest digest) throws IOException;
}
