package dev.lamina.cri;

import dev.lamina.digest.Digest;
import dev.lamina.images.ImageRecord;
import dev.lamina.oci.ImageConfig;
import java.util.List;
import java.util.Map;

/** Image records for tests, built from a seed so IDs and digests are stable. */
public final class Images {
  private Images() {}

  public static ImageConfig config(String user) {
    return new ImageConfig("amd64", "linux", "", "", "2024-01-02T03:04:05Z", "",
        new ImageConfig.Config(user, List.of("PATH=/usr/bin:/bin"), List.of(), List.of("sh"), "/",
            Map.of("org.opencontainers.image.title", "test"), "", List.of("80/tcp"), List.of()),
        new ImageConfig.RootFs("layers", List.of(FakeImageManager.digestOf("diff1"), FakeImageManager.digestOf("diff2"))),
        List.of(new ImageConfig.History("2024-01-02T03:04:05Z", "ADD rootfs /", "", "", false)));
  }

  /**
   * An image whose ID, manifest and chain IDs derive from {@code seed}, tagged with {@code tags}
   * (normalized) and digested as NAME@manifest for each tag's repository.
   */
  public static ImageRecord image(String seed, String user, long size, String... tags) {
    Digest manifest = FakeImageManager.digestOf("manifest-" + seed);
    List<String> digests = java.util.Arrays.stream(tags)
        .map(t -> t.substring(0, t.lastIndexOf(':')) + "@" + manifest).distinct().toList();
    return new ImageRecord(FakeImageManager.digestOf("config-" + seed), List.of(tags), digests, size, config(user),
        manifest, List.of(FakeImageManager.digestOf("chain1-" + seed), FakeImageManager.digestOf("chain2-" + seed)),
        false);
  }

  public static ImageRecord pinned(ImageRecord r) {
    return new ImageRecord(r.id(), r.repoTags(), r.repoDigests(), r.size(), r.config(), r.manifestDigest(),
        r.chainIds(), true);
  }

  public static ImageRecord withUser(ImageRecord r, String user) {
    return new ImageRecord(r.id(), r.repoTags(), r.repoDigests(), r.size(), config(user), r.manifestDigest(),
        r.chainIds(), r.pinned());
  }
}
