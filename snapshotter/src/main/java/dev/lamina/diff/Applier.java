package dev.lamina.diff;

import dev.lamina.archive.ApplyOptions;
import java.io.IOException;
import java.nio.file.Path;

/** Applies a layer blob onto a directory (containerd's {@code diff.Applier}). */
public interface Applier {
  AppliedLayer apply(LayerBlob layer, Path target, ApplyOptions options) throws IOException;
}
