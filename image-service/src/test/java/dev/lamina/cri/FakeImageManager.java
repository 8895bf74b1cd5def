package dev.lamina.cri;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.FilesystemUsage;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageRecord;
import dev.lamina.images.PullListener;
import dev.lamina.oci.ImageRef;
import dev.lamina.remotes.auth.Credentials;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * An in-memory {@link ImageManager}: images it holds, a "registry" of what a pull of a reference
 * gives, scripted failures, and a record of what it was asked. References it is given must be
 * normalized already (the service normalizes them).
 */
public final class FakeImageManager implements ImageManager {
  private final Map<String, ImageRecord> images = new LinkedHashMap<>();
  private final Map<String, ImageRecord> registry = new HashMap<>();
  private final Map<String, IOException> pullFailures = new HashMap<>();
  public final List<String> pulls = new CopyOnWriteArrayList<>();
  public final List<Credentials> credentials = new CopyOnWriteArrayList<>();
  public final List<String> removed = new CopyOnWriteArrayList<>();
  public volatile IOException failEverything;
  public volatile boolean removeRacesAndFindsNothing;
  public volatile FilesystemUsage usage =
      new FilesystemUsage(Path.of("/var/lib/lamina"), 123_456_789L, 4321L, Instant.ofEpochSecond(1_700_000_000L, 42));

  /** Holds {@code image} as if it had been pulled. */
  public synchronized FakeImageManager add(ImageRecord image) {
    images.put(image.id().toString(), image);
    return this;
  }

  /** A pull of {@code reference} (normalized) gives {@code image}. */
  public synchronized FakeImageManager publish(String reference, ImageRecord image) {
    registry.put(reference, image);
    return this;
  }

  public synchronized FakeImageManager failPull(String reference, IOException e) {
    pullFailures.put(reference, e);
    return this;
  }

  @Override
  public ImageRecord pull(String reference, Credentials creds, PullListener listener) throws IOException {
    check();
    pulls.add(reference);
    credentials.add(creds);
    IOException failure;
    ImageRecord published;
    synchronized (this) {
      failure = pullFailures.get(reference);
      published = registry.get(reference);
    }
    if (failure != null) {
      throw failure;
    }
    if (published == null) {
      throw LaminaException.notFound(reference + ": not found: manifest unknown");
    }
    listener.resolved(reference, published.manifestDigest(), List.of(), 0);
    ImageRef ref = ImageRef.parse(reference);
    List<String> tags = new ArrayList<>(published.repoTags());
    List<String> digests = new ArrayList<>(published.repoDigests());
    synchronized (this) {
      ImageRecord existing = images.get(published.id().toString());
      if (existing != null) {
        existing.repoTags().forEach(t -> addOnce(tags, t));
        existing.repoDigests().forEach(d -> addOnce(digests, d));
      }
      if (ref.digest() == null) {
        addOnce(tags, ref.toString());
      }
      addOnce(digests, ref.name() + "@" + published.manifestDigest());
      ImageRecord stored = new ImageRecord(published.id(), tags, digests, published.size(), published.config(),
          published.manifestDigest(), published.chainIds(), published.pinned());
      // A tag names one image: it moves away from any other.
      for (Map.Entry<String, ImageRecord> e : new ArrayList<>(images.entrySet())) {
        ImageRecord other = e.getValue();
        if (!other.id().equals(stored.id()) && other.repoTags().stream().anyMatch(tags::contains)) {
          List<String> left = new ArrayList<>(other.repoTags());
          left.removeAll(tags);
          e.setValue(new ImageRecord(other.id(), left, other.repoDigests(), other.size(), other.config(),
              other.manifestDigest(), other.chainIds(), other.pinned()));
        }
      }
      images.put(stored.id().toString(), stored);
      return stored;
    }
  }

  private static void addOnce(List<String> list, String s) {
    if (!list.contains(s)) {
      list.add(s);
    }
  }

  @Override
  public synchronized List<ImageRecord> list() throws IOException {
    check();
    return List.copyOf(images.values());
  }

  @Override
  public synchronized Optional<ImageRecord> find(String idOrReference) throws IOException {
    check();
    String id = idOrReference.matches("[a-f0-9]{64}") ? "sha256:" + idOrReference : idOrReference;
    ImageRecord byId = images.get(id);
    if (byId != null) {
      return Optional.of(byId);
    }
    return images.values().stream()
        .filter(r -> r.repoTags().contains(idOrReference) || r.repoDigests().contains(idOrReference))
        .findFirst();
  }

  @Override
  public void remove(String idOrReference) throws IOException {
    check();
    if (removeRacesAndFindsNothing) {
      throw LaminaException.notFound("image " + idOrReference + ": not found");
    }
    Optional<ImageRecord> found = find(idOrReference);
    synchronized (this) {
      found.ifPresent(r -> {
        images.remove(r.id().toString());
        removed.add(r.id().toString());
      });
    }
  }

  @Override
  public FilesystemUsage usage() throws IOException {
    check();
    return usage;
  }

  @Override
  public void collectGarbage() {
    // holds records only: nothing to collect
  }

  private void check() throws IOException {
    if (failEverything != null) {
      throw failEverything;
    }
  }

  public static Digest digestOf(String seed) {
    return Digest.sha256Of(seed.getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }
}
