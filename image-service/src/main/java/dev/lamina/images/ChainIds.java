package dev.lamina.images;

import dev.lamina.digest.Digest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;

/**
 * Chain IDs, the names of committed layer snapshots (OCI image spec, "Layer ChainID"):
 * {@code ChainID(L0) = DiffID(L0)} and {@code ChainID(Ln) = SHA256(ChainID(Ln-1) + " " +
 * DiffID(Ln))}, the digests written as {@code sha256:<hex>}. A chain ID names a layer together with
 * every layer under it, so a committed snapshot of that name can be reused by any image that has
 * the same layers in the same order.
 */
public final class ChainIds {
  private ChainIds() {}

  /** The chain IDs of {@code diffIds} (base first), one for each: the last names the whole stack. */
  public static List<Digest> of(List<Digest> diffIds) {
    List<Digest> out = new ArrayList<>(diffIds.size());
    Digest previous = null;
    for (Digest diffId : diffIds) {
      Digest chainId;
      if (previous == null) {
        chainId = diffId;
      } else {
        MessageDigest md = Digest.newSha256();
        md.update((previous + " " + diffId).getBytes(StandardCharsets.US_ASCII));
        chainId = Digest.sha256(md.digest());
      }
      out.add(chainId);
      previous = chainId;
    }
    return List.copyOf(out);
  }
}
