package dev.lamina.containerd;

import com.google.protobuf.ByteString;
import com.google.protobuf.FieldMask;
import dev.lamina.containerd.content.v1.InfoRequest;
import dev.lamina.containerd.content.v1.UpdateRequest;
import dev.lamina.containerd.content.v1.WriteAction;
import dev.lamina.containerd.content.v1.WriteContentRequest;
import dev.lamina.containerd.content.v1.WriteContentResponse;
import dev.lamina.containerd.images.v1.CreateImageRequest;
import dev.lamina.containerd.images.v1.DeleteImageRequest;
import dev.lamina.containerd.images.v1.GetImageRequest;
import dev.lamina.containerd.images.v1.Image;
import dev.lamina.containerd.images.v1.ListImagesRequest;
import dev.lamina.containerd.images.v1.UpdateImageRequest;
import dev.lamina.containerd.leases.v1.CreateRequest;
import dev.lamina.containerd.leases.v1.DeleteRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.types.Descriptor;
import dev.lamina.content.Provider;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.ImageRecord;
import dev.lamina.oci.Index;
import dev.lamina.oci.Limits;
import dev.lamina.oci.ManifestDocument;
import dev.lamina.oci.Manifests;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Labels;
import dev.lamina.snapshots.Snapshotter;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Makes one image lamina holds an image of containerd's, as containerd's own pull and its CRI
 * would have left it, so that containerd runs containers on it and its garbage collector keeps
 * it:
 *
 * <ul>
 *   <li>the index (when the image was pulled through one), manifest and config blobs in
 *       containerd's content store, with the {@code containerd.io/gc.ref.*} labels containerd's
 *       pull sets; layer blobs are not needed while the snapshots exist;
 *   <li>every layer's committed snapshot in containerd's metadata, through the remote-snapshotter
 *       handshake: a Prepare naming the chain ID as its target, which lamina's proxy answers with
 *       ALREADY_EXISTS, after which containerd records lamina's snapshot as its own;
 *   <li>an image record for each tag, each digest reference and the ID {@code sha256:<config>},
 *       labelled as containerd's CRI labels its own.
 * </ul>
 *
 * All of it under a containerd lease, so that containerd's garbage collector takes nothing
 * between the steps. Every step is idempotent: registering again repairs what is missing.
 */
final class Registrar {
  /** containerd's CRI marks the image records it manages so. */
  static final String CRI_IMAGE_LABEL = "io.cri-containerd.image";
  static final String CRI_IMAGE_MANAGED = "managed";
  /** Marks the image records lamina made, so that reconciling finds them. */
  static final String OWNER_LABEL = "lamina.dev/owner";
  static final String OWNER = "images";
  static final String GC_EXPIRE = "containerd.io/gc.expire";
  /** A lease left by a lamina that died expires by itself. */
  static final Duration LEASE_TTL = Duration.ofHours(1);
  /** Bytes per Write message: well under containerd's message limit. */
  private static final int WRITE_CHUNK = 1 << 20;
  private static final SecureRandom RANDOM = new SecureRandom();

  private final ContainerdClient client;
  private final String snapshotterName;
  private final Snapshotter snapshotter;
  private final Provider content;

  Registrar(ContainerdClient client, String snapshotterName, Snapshotter snapshotter, Provider content) {
    this.client = client;
    this.snapshotterName = snapshotterName;
    this.snapshotter = snapshotter;
    this.content = content;
  }

  /** Every name containerd should know the image by: tags, digest references, the ID. */
  static Set<String> names(ImageRecord r) {
    Set<String> names = new LinkedHashSet<>(r.repoTags());
    names.addAll(r.repoDigests());
    names.add(r.id().toString());
    return names;
  }

  /** Registers {@code r} in containerd (see the class comment). */
  void register(ImageRecord r) throws IOException {
    if (r.chainIds().isEmpty()) {
      throw LaminaException.invalidArgument("image " + r.id() + " has no layers to register");
    }
    Blobs blobs = blobs(r);
    labelTargets(r.chainIds());
    String lease = "lamina-register-" + r.id().hex().substring(0, 12) + "-" + random();
    client.calls().leases().create(CreateRequest.newBuilder().setId(lease)
        .putLabels(GC_EXPIRE, Instant.now().plus(LEASE_TTL).toString()).build());
    try {
      ContainerdClient.Calls calls = client.withLease(lease);
      registerSnapshots(calls, r.chainIds());
      String top = r.chainIds().get(r.chainIds().size() - 1).toString();
      putBlob(calls, blobs.config(), Map.of("containerd.io/gc.ref.snapshot." + snapshotterName, top));
      putBlob(calls, blobs.manifest(), Map.of("containerd.io/gc.ref.content.config", r.id().toString()));
      if (blobs.index().isPresent()) {
        putBlob(calls, blobs.index().get(), Map.of("containerd.io/gc.ref.content.m." + blobs.manifestPosition(),
            r.manifestDigest().toString()));
      }
      for (String name : names(r)) {
        putImage(calls, name, targetOf(name, blobs));
      }
    } finally {
      try {
        client.calls().leases().delete(DeleteRequest.newBuilder().setId(lease).build());
      } catch (StatusRuntimeException e) {
        // it expires by itself (LEASE_TTL)
      }
    }
  }

  /** Deletes containerd's image records of these names; those already gone are fine. */
  void unregister(Iterable<String> names) {
    for (String name : names) {
      try {
        client.calls().images().delete(DeleteImageRequest.newBuilder().setName(name).build());
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
          throw e;
        }
      }
    }
  }

  /** The names of the image records in containerd that lamina made. */
  Set<String> registeredNames() {
    Set<String> names = new LinkedHashSet<>();
    for (Image i : client.calls().images().list(ListImagesRequest.newBuilder()
        .addFilters("labels.\"" + OWNER_LABEL + "\"==" + OWNER).build()).getImagesList()) {
      names.add(i.getName());
    }
    return names;
  }

  // ---------------------------------------------------------------------------------------------

  /** A document lamina keeps, as containerd's content store should hold it. */
  record Blob(Descriptor descriptor, byte[] bytes) {}

  record Blobs(Blob config, Blob manifest, Optional<Blob> index, int manifestPosition) {}

  private Blobs blobs(ImageRecord r) throws IOException {
    byte[] manifest = read(r.manifestDigest(), Limits.MAX_MANIFEST_BYTES);
    ManifestDocument doc = Manifests.parse(dev.lamina.oci.Descriptor.of("", r.manifestDigest(), manifest.length),
        manifest);
    if (!(doc instanceof dev.lamina.oci.Manifest m)) {
      throw LaminaException.failedPrecondition("image " + r.id() + ": " + r.manifestDigest() + " is not a manifest");
    }
    byte[] config = read(r.id(), Limits.MAX_CONFIG_BYTES);
    Blob configBlob = new Blob(descriptor(m.config().mediaType(), r.id(), config.length), config);
    Blob manifestBlob = new Blob(descriptor(doc.descriptor().mediaType(), r.manifestDigest(), manifest.length),
        manifest);
    // The digest a tag was pulled by is an index's when it is not the manifest's.
    for (String ref : r.repoDigests()) {
      Digest d = Digest.parse(ref.substring(ref.lastIndexOf('@') + 1));
      if (d.equals(r.manifestDigest())) {
        continue;
      }
      Optional<byte[]> bytes = readIfPresent(d, Limits.MAX_MANIFEST_BYTES);
      if (bytes.isEmpty()) {
        continue;
      }
      ManifestDocument top = Manifests.parse(dev.lamina.oci.Descriptor.of("", d, bytes.get().length), bytes.get());
      if (top instanceof Index index) {
        for (int i = 0; i < index.manifests().size(); i++) {
          if (index.manifests().get(i).digest().equals(r.manifestDigest())) {
            Blob indexBlob = new Blob(descriptor(top.descriptor().mediaType(), d, bytes.get().length), bytes.get());
            return new Blobs(configBlob, manifestBlob, Optional.of(indexBlob), i);
          }
        }
      }
    }
    return new Blobs(configBlob, manifestBlob, Optional.empty(), -1);
  }

  /** What an image record of {@code name} points at: what the name was pulled by. */
  private static Descriptor targetOf(String name, Blobs blobs) {
    int at = name.lastIndexOf('@');
    if (at >= 0 && name.substring(at + 1).equals(blobs.manifest().descriptor().getDigest())) {
      return blobs.manifest().descriptor();
    }
    return blobs.index().map(Blob::descriptor).orElse(blobs.manifest().descriptor());
  }

  private static Descriptor descriptor(String mediaType, Digest digest, long size) {
    return Descriptor.newBuilder().setMediaType(mediaType).setDigest(digest.toString()).setSize(size).build();
  }

  private byte[] read(Digest digest, int maxBytes) throws IOException {
    return readIfPresent(digest, maxBytes).orElseThrow(() -> LaminaException.failedPrecondition(
        "content " + digest + " is missing from lamina's content store"));
  }

  private Optional<byte[]> readIfPresent(Digest digest, int maxBytes) throws IOException {
    return content.readIfPresent(digest, maxBytes);
  }

  /**
   * Gives each committed layer the target label containerd's List filter looks for (layers
   * committed before lamina set it at commit lack it).
   */
  private void labelTargets(List<Digest> chainIds) throws IOException {
    for (Digest chainId : chainIds) {
      String name = chainId.toString();
      Info info = snapshotter.stat(name);
      if (!name.equals(info.labels().get(Labels.TARGET))) {
        Map<String, String> labels = new LinkedHashMap<>(info.labels());
        labels.put(Labels.TARGET, name);
        snapshotter.update(new Info(info.kind(), name, info.parent(), labels, info.created(), info.updated()),
            List.of("labels." + Labels.TARGET));
      }
    }
  }

  /** The handshake, from the first layer missing in containerd's metadata up. */
  private void registerSnapshots(ContainerdClient.Calls calls, List<Digest> chainIds) throws LaminaException {
    int known = chainIds.size();
    while (known > 0 && !hasSnapshot(calls, chainIds.get(known - 1).toString())) {
      known--;
    }
    for (int i = known; i < chainIds.size(); i++) {
      String chainId = chainIds.get(i).toString();
      String parent = i == 0 ? "" : chainIds.get(i - 1).toString();
      String key = "extract-" + random() + " " + chainId;
      try {
        calls.snapshots().prepare(PrepareSnapshotRequest.newBuilder().setSnapshotter(snapshotterName).setKey(key)
            .setParent(parent).putLabels(Labels.TARGET, chainId).build());
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() == Status.Code.ALREADY_EXISTS) {
          continue; // recorded: containerd took lamina's committed snapshot as its own
        }
        throw e;
      }
      // containerd's snapshotter made a new active snapshot: its proxy is not this lamina
      calls.snapshots().remove(RemoveSnapshotRequest.newBuilder().setSnapshotter(snapshotterName).setKey(key).build());
      throw LaminaException.failedPrecondition("containerd's snapshotter \"" + snapshotterName + "\" does not know "
          + "lamina's layer " + chainId + ": is its [proxy_plugins." + snapshotterName + "] address lamina's "
          + "--snapshotter-socket?");
    }
  }

  private boolean hasSnapshot(ContainerdClient.Calls calls, String name) {
    try {
      calls.snapshots().stat(StatSnapshotRequest.newBuilder().setSnapshotter(snapshotterName).setKey(name).build());
      return true;
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
        return false;
      }
      throw e;
    }
  }

  /** Writes the blob unless containerd has it, and sets {@code labels} on it. */
  private void putBlob(ContainerdClient.Calls calls, Blob blob, Map<String, String> labels) throws IOException {
    String digest = blob.descriptor().getDigest();
    try {
      dev.lamina.containerd.content.v1.Info info = calls.content().info(InfoRequest.newBuilder().setDigest(digest)
          .build()).getInfo();
      if (!info.getLabelsMap().entrySet().containsAll(labels.entrySet())) {
        List<String> paths = new ArrayList<>();
        labels.keySet().forEach(k -> paths.add("labels." + k));
        calls.content().update(UpdateRequest.newBuilder()
            .setInfo(dev.lamina.containerd.content.v1.Info.newBuilder().setDigest(digest).putAllLabels(labels))
            .setUpdateMask(FieldMask.newBuilder().addAllPaths(paths)).build());
      }
      return;
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
        throw e;
      }
    }
    write(calls, blob, labels);
  }

  /** containerd's Write stream: the bytes in chunks, then a commit with the size, digest and labels. */
  private static void write(ContainerdClient.Calls calls, Blob blob, Map<String, String> labels) throws IOException {
    CompletableFuture<Void> done = new CompletableFuture<>();
    StreamObserver<WriteContentRequest> out = calls.contentStreams().write(new StreamObserver<>() {
      @Override
      public void onNext(WriteContentResponse r) {}

      @Override
      public void onError(Throwable t) {
        done.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {
        done.complete(null);
      }
    });
    String ref = "lamina-" + blob.descriptor().getDigest();
    byte[] bytes = blob.bytes();
    int off = 0;
    do {
      int n = Math.min(WRITE_CHUNK, bytes.length - off);
      boolean last = off + n == bytes.length;
      WriteContentRequest.Builder w = WriteContentRequest.newBuilder().setRef(ref)
          .setAction(last ? WriteAction.COMMIT : WriteAction.WRITE).setOffset(off).setTotal(bytes.length)
          .setData(ByteString.copyFrom(bytes, off, n));
      if (last) {
        w.setExpected(blob.descriptor().getDigest()).putAllLabels(labels);
      }
      out.onNext(w.build());
      off += n;
    } while (off < bytes.length);
    out.onCompleted();
    try {
      done.get(ContainerdClient.CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.ALREADY_EXISTS) {
        return; // written meanwhile (another registration of an image sharing it)
      }
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      throw new IOException(e.getCause());
    } catch (TimeoutException e) {
      throw new LaminaException(ErrorKind.UNAVAILABLE, "containerd did not commit " + blob.descriptor().getDigest()
          + " within " + ContainerdClient.CALL_TIMEOUT.toSeconds() + " s");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted writing " + blob.descriptor().getDigest());
    }
  }

  /** Creates the image record, or points an existing one at {@code target} with lamina's labels. */
  private static void putImage(ContainerdClient.Calls calls, String name, Descriptor target) {
    Map<String, String> labels = Map.of(CRI_IMAGE_LABEL, CRI_IMAGE_MANAGED, OWNER_LABEL, OWNER);
    Image want = Image.newBuilder().setName(name).putAllLabels(labels).setTarget(target).build();
    try {
      Image have = calls.images().get(GetImageRequest.newBuilder().setName(name).build()).getImage();
      if (have.getTarget().equals(target) && have.getLabelsMap().entrySet().containsAll(labels.entrySet())) {
        return;
      }
      calls.images().update(UpdateImageRequest.newBuilder().setImage(want).setUpdateMask(FieldMask.newBuilder()
          .addPaths("target").addPaths("labels." + CRI_IMAGE_LABEL).addPaths("labels." + OWNER_LABEL)).build());
    } catch (StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
        throw e;
      }
      try {
        calls.images().create(CreateImageRequest.newBuilder().setImage(want).build());
      } catch (StatusRuntimeException c) {
        if (c.getStatus().getCode() != Status.Code.ALREADY_EXISTS) {
          throw c;
        }
      }
    }
  }

  private static String random() {
    byte[] b = new byte[6];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }
}
