package dev.lamina.images;

import static dev.lamina.oci.Limits.MAX_INDEX_DEPTH;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageConfig;
import dev.lamina.oci.Index;
import dev.lamina.oci.Manifest;
import dev.lamina.oci.ManifestDocument;
import dev.lamina.oci.Manifests;
import dev.lamina.oci.Platform;
import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The first steps of a pull: resolve the reference, narrow an index to the node's platform, fetch
 * manifest and config into the content store (each only when it is not there), and plan which
 * layers are missing. Everything it reads stays protected by the pull's lease.
 */
final class ImageResolver {
  private final ContentBlobs blobs;
  private final Extractions extractions;
  private final Platform platform;

  ImageResolver(ContentBlobs blobs, Extractions extractions, Platform platform) {
    this.blobs = blobs;
    this.extractions = extractions;
    this.platform = platform;
  }

  PullPlan plan(PullContext c, Leases.Lease lease) throws IOException {
    Descriptor target = resolve(c, lease);
    Manifest manifest = narrow(c, target, lease);
    Descriptor configDescriptor = manifest.config();
    lease.protect(Leases.content(configDescriptor.digest()));
    byte[] configBytes = smallBlob(c, "config", configDescriptor, c.client.options().maxBlobBytes());
    ImageConfig config = ImageConfig.parse(configDescriptor.digest(), configBytes);
    if (config.rootfs().diffIds().size() != manifest.layers().size()) {
      throw LaminaException.invalidArgument("image " + c.ref + ": manifest " + manifest.descriptor().digest()
          + " has " + manifest.layers().size() + " layers but config " + configDescriptor.digest() + " has "
          + config.rootfs().diffIds().size() + " diff IDs");
    }
    ImageInfo info = ImageInfo.of(manifest, config);
    List<Digest> chain = info.chainIds();
    for (int i = 0; i < chain.size(); i++) {
      lease.protect(Leases.snapshot(chain.get(i).toString()));
      lease.protect(Leases.content(manifest.layers().get(i).digest()));
    }
    return new PullPlan(target, info, committedPrefix(chain));
  }

  private Descriptor resolve(PullContext c, Leases.Lease lease) throws IOException {
    Digest pinned = c.ref.digest();
    if (pinned != null) {
      // A digest names content that cannot change: a manifest already here needs no registry.
      lease.protect(Leases.content(pinned));
      Optional<byte[]> local = blobs.readIfPresent(pinned, c.client.options().maxManifestBytes());
      if (local.isPresent()) {
        return Manifests.parse(Descriptor.of("", pinned, local.get().length), local.get()).descriptor();
      }
    }
    Descriptor d = c.client.resolve(c.ref).descriptor();
    lease.protect(Leases.content(d.digest()));
    return d;
  }

  private Manifest narrow(PullContext c, Descriptor target, Leases.Lease lease) throws IOException {
    Descriptor current = target;
    for (int depth = 0; depth <= MAX_INDEX_DEPTH; depth++) {
      lease.protect(Leases.content(current.digest()));
      byte[] bytes = blobs.readIfPresent(current.digest(), c.client.options().maxManifestBytes()).orElse(null);
      if (bytes == null) {
        bytes = c.client.fetchManifest(c.ref, current);
        blobs.putSmall("manifest", current.digest(), bytes);
      } else {
        blobs.adopt(current.digest());
      }
      ManifestDocument doc = Manifests.parse(current, bytes);
      if (doc instanceof Manifest m) {
        return m;
      }
      current = ((Index) doc).require(platform.matcher(), c.ref.name());
    }
    throw LaminaException.invalidArgument("index " + target.digest() + " of " + c.ref + " nests more than "
        + MAX_INDEX_DEPTH + " deep");
  }

  private byte[] smallBlob(PullContext c, String kind, Descriptor d, int max) throws IOException {
    Optional<byte[]> local = blobs.readIfPresent(d.digest(), max);
    if (local.isPresent()) {
      blobs.adopt(d.digest());
      return local.get();
    }
    byte[] bytes = c.client.readBlob(c.ref, d);
    blobs.putSmall(kind, d.digest(), bytes);
    return bytes;
  }

  /** How many layers from the base up are committed already: the top committed one implies the rest. */
  private int committedPrefix(List<Digest> chain) throws IOException {
    for (int i = chain.size() - 1; i >= 0; i--) {
      if (extractions.isCommitted(chain.get(i).toString())) {
        return i + 1;
      }
    }
    return 0;
  }
}
