package dev.lamina.mount;

import java.util.List;

/**
 * A mount to perform, as plain data: snapshotters return these and never mount anything
 * themselves (containerd's "lingua franca").
 *
 * @param type filesystem type: {@code bind}, {@code overlay}, ...
 * @param source what to mount
 * @param target sub-path under the mount root, usually empty
 * @param options mount options; {@code ro}/{@code rw}, {@code rbind}, {@code lowerdir=...}
 */
public record Mount(String type, String source, String target, List<String> options) {
  public Mount {
    if (type == null || type.isEmpty()) {
      throw new IllegalArgumentException("mount type is required");
    }
    source = source == null ? "" : source;
    target = target == null ? "" : target;
    options = List.copyOf(options);
  }

  public static Mount of(String type, String source, List<String> options) {
    return new Mount(type, source, "", options);
  }

  public boolean readOnly() {
    return options.contains("ro");
  }
}
