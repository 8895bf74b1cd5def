package dev.lamina.services;

import dev.lamina.diff.ApplyConfig;
import dev.lamina.diff.DiffConfig;
import dev.lamina.diff.Differ;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.oci.Descriptor;
import java.io.IOException;
import java.util.List;

/**
 * The diff service behind the gRPC edge (containerd's {@code services/diff/local.go}): it asks its
 * differs in the configured order and takes the first answer that is not NOT_IMPLEMENTED.
 */
public final class LocalDiffService {
  private final List<Differ> differs;

  public LocalDiffService(List<Differ> differs) {
    this.differs = List.copyOf(differs);
  }

  public List<Differ> differs() {
    return differs;
  }

  public Descriptor apply(Descriptor layer, List<Mount> mounts, ApplyConfig config) throws IOException {
    return first(d -> d.apply(layer, mounts, config), "apply " + layer.digest());
  }

  public Descriptor diff(List<Mount> lower, List<Mount> upper, DiffConfig config) throws IOException {
    return first(d -> d.compare(lower, upper, config), "diff");
  }

  private interface Attempt {
    Descriptor run(Differ d) throws IOException;
  }

  private Descriptor first(Attempt attempt, String what) throws IOException {
    LaminaException last = null;
    for (Differ d : differs) {
      try {
        return attempt.run(d);
      } catch (LaminaException e) {
        if (e.kind() != ErrorKind.NOT_IMPLEMENTED) {
          throw e;
        }
        last = e;
      }
    }
    if (last != null) {
      throw last;
    }
    throw LaminaException.notImplemented(what + ": no differ configured");
  }
}
