package dev.lamina.diff.walking;

import dev.lamina.mount.Mount;
import dev.lamina.mount.TempMounts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Mounts for the length of one call, on a fresh directory (containerd's {@code mount.WithTempMount}). */
public interface TempMounter {
  /** Mounts {@code mounts}, runs {@code fn} on the mount root, and always unmounts. */
  <T> T withTempMount(List<Mount> mounts, TempMounts.MountedFunction<T> fn) throws IOException;

  /** Real mounts, on directories made under {@code parent} (e.g. {@code <root>/tmpmounts}). */
  static TempMounter under(Path parent) {
    return new TempMounter() {
      @Override
      public <T> T withTempMount(List<Mount> mounts, TempMounts.MountedFunction<T> fn) throws IOException {
        java.nio.file.Files.createDirectories(parent);
        return TempMounts.withTempMount(parent, mounts, fn);
      }
    };
  }
}
