package dev.lamina.services;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.containerd.diff.v1.ApplyRequest;
import dev.lamina.containerd.diff.v1.DiffGrpc;
import dev.lamina.containerd.diff.v1.DiffRequest;
import dev.lamina.containerd.types.Descriptor;
import dev.lamina.containerd.types.Mount;
import dev.lamina.content.Info;
import dev.lamina.content.Labels;
import dev.lamina.content.LocalContentStore;
import dev.lamina.content.ReaderAt;
import dev.lamina.content.Writer;
import dev.lamina.diff.walking.TempMounter;
import dev.lamina.diff.walking.WalkingDiffer;
import dev.lamina.digest.Digest;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.mount.MountInfo;
import dev.lamina.oci.MediaTypes;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Diff API end to end through an in-process server: layers from the content store applied
 * onto real directories and mounts, diffs written back into the store. Mounting needs root.
 */
class DiffServiceTest {
  @TempDir Path tmp;
  LocalContentStore store;
  InProcess grpc;
  DiffGrpc.DiffBlockingStub client;

  @BeforeEach
  void start() throws IOException {
    store = LocalContentStore.open(tmp.resolve("state/content"));
    WalkingDiffer walking = new WalkingDiffer(store, StreamProcessors.builtIn(),
        TempMounter.under(tmp.resolve("state/tmpmounts")), ApplyOptions.defaults(), tmp.resolve("state/tmp"));
    grpc = new InProcess(new DiffService(new LocalDiffService(List.of(walking))));
    client = DiffGrpc.newBlockingStub(grpc.channel);
  }

  @AfterEach
  void stop() throws Exception {
    grpc.close();
    store.close();
  }

  static void assumeRoot() {
    assumeTrue(Posix.get().isRoot(), "mounting, mknod and chown need root");
  }

  static void assertCode(ThrowingCallable call, Status.Code code) {
    assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(code));
  }

  static Mount bind(Path dir, String... extra) {
    Mount.Builder b = Mount.newBuilder().setType("bind").setSource(dir.toString()).addOptions("rbind");
    b.addAllOptions(extra.length == 0 ? List.of("rw") : List.of(extra));
    return b.build();
  }

  static Descriptor desc(String mediaType, Digest d, long size) {
    return Descriptor.newBuilder().setMediaType(mediaType).setDigest(d.toString()).setSize(size).build();
  }

  Path dir(String name) throws IOException {
    return Files.createDirectories(tmp.resolve(name));
  }

  static byte[] sample() throws IOException {
    return new LayerBuilder()
        .dir("etc", 0755)
        .file("etc/hostname", "lamina\n", 0644)
        .dir("bin", 0755)
        .file("bin/sh", "#!/bin/true\n", 0755)
        .symlink("bin/ash", "sh")
        .whiteout("gone")
        .tar();
  }

  @Test
  void appliesGzipLayerFromTheStoreOntoABindMount() throws IOException {
    byte[] tar = sample();
    byte[] blob = LayerBuilder.gzip(tar);
    Digest d = LayerBuilder.put(store, blob, Map.of());
    Path target = dir("target");
    Files.writeString(target.resolve("gone"), "removed by the layer");
    Files.writeString(target.resolve("kept"), "untouched");

    Descriptor applied = client.apply(ApplyRequest.newBuilder()
        .setDiff(desc(MediaTypes.OCI_LAYER_GZIP, d, blob.length))
        .addMounts(bind(target))
        .setSyncFs(true)
        .build()).getApplied();

    assertThat(applied.getMediaType()).isEqualTo(MediaTypes.OCI_LAYER);
    assertThat(applied.getDigest()).isEqualTo(Digest.sha256Of(tar).toString());
    assertThat(applied.getSize()).isEqualTo(tar.length);
    assertThat(target.resolve("etc/hostname")).hasContent("lamina");
    assertThat(Files.getPosixFilePermissions(target.resolve("bin/sh"))).isEqualTo(PosixFilePermissions.fromString("rwxr-xr-x"));
    assertThat(Files.readSymbolicLink(target.resolve("bin/ash"))).isEqualTo(Path.of("sh"));
    assertThat(target.resolve("gone")).doesNotExist();
    assertThat(target.resolve("kept")).hasContent("untouched");
  }

  @Test
  void appliesThroughATemporaryMount() throws IOException {
    assumeRoot();
    byte[] blob = LayerBuilder.gzip(new LayerBuilder()
        .file("top.txt", "top", 0644)
        .file("sub/inner.txt", "inner", 0644)
        .tar());
    Digest d = LayerBuilder.put(store, blob, Map.of());
    Path a = dir("a");
    Files.createDirectories(a.resolve("sub"));
    Path b = dir("b");
    // Two mounts, the second below the first: only a real mount tree gives this layout.
    Mount second = bind(b).toBuilder().setTarget("sub").build();

    client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER_GZIP, d, 0))
        .addMounts(bind(a)).addMounts(second).build());

    assertThat(a.resolve("top.txt")).hasContent("top");
    assertThat(b.resolve("inner.txt")).hasContent("inner");
    assertThat(a.resolve("sub/inner.txt")).doesNotExist();
    assertThat(MountInfo.mountsAtOrUnder(tmp)).isEmpty();
    try (var left = Files.list(tmp.resolve("state/tmpmounts"))) {
      assertThat(left).isEmpty();
    }
  }

  @Test
  void overlayMountIsAppliedIntoItsUpperDirWithOverlayWhiteouts() throws IOException {
    assumeRoot();
    byte[] blob = LayerBuilder.gzip(new LayerBuilder()
        .whiteout("old")
        .dir("d", 0755)
        .opaque("d")
        .file("d/new", "new", 0644)
        .tar());
    Digest d = LayerBuilder.put(store, blob, Map.of());
    Path lower = dir("lower");
    Files.writeString(lower.resolve("old"), "old");
    Files.createDirectories(lower.resolve("d"));
    Files.writeString(lower.resolve("d/hidden"), "hidden");
    Path upper = dir("upper");
    Path work = dir("work");
    Mount overlay = Mount.newBuilder().setType("overlay").setSource("overlay")
        .addOptions("lowerdir=" + lower).addOptions("upperdir=" + upper).addOptions("workdir=" + work).build();

    client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER_GZIP, d, blob.length))
        .addMounts(overlay).build());

    FileStat wh = Posix.get().lstat(upper.resolve("old"));
    assertThat(wh.isOverlayWhiteout()).isTrue();
    assertThat(Posix.get().getxattr(upper.resolve("d"), "trusted.overlay.opaque"))
        .hasValueSatisfying(v -> assertThat(new String(v, StandardCharsets.UTF_8)).isEqualTo("y"));
    assertThat(upper.resolve("d/new")).hasContent("new");
    assertThat(lower.resolve("old")).hasContent("old");
    assertThat(MountInfo.mountsAtOrUnder(tmp)).isEmpty();
  }

  @Test
  void badApplyRequests() throws IOException {
    byte[] blob = LayerBuilder.gzip(sample());
    Digest d = LayerBuilder.put(store, blob, Map.of());
    Path target = dir("target");
    Digest unknown = Digest.sha256Of("unknown".getBytes(StandardCharsets.UTF_8));

    assertCode(() -> client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER_GZIP, unknown, 10))
        .addMounts(bind(target)).build()), Status.Code.NOT_FOUND);
    assertCode(() -> client.apply(ApplyRequest.newBuilder()
        .setDiff(Descriptor.newBuilder().setDigest("sha256:nothex").setSize(1)).addMounts(bind(target)).build()),
        Status.Code.INVALID_ARGUMENT);
    assertCode(() -> client.apply(ApplyRequest.newBuilder().addMounts(bind(target)).build()),
        Status.Code.INVALID_ARGUMENT);
    assertCode(() -> client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER_GZIP, d, blob.length))
        .build()), Status.Code.INVALID_ARGUMENT);
    assertCode(() -> client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER_GZIP, d, blob.length + 1))
        .addMounts(bind(target)).build()), Status.Code.FAILED_PRECONDITION);
    assertCode(() -> client.apply(ApplyRequest.newBuilder().setDiff(desc("application/x-unknown", d, blob.length))
        .addMounts(bind(target)).build()), Status.Code.UNIMPLEMENTED);
    assertCode(() -> client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER_GZIP, d, blob.length))
        .addMounts(bind(target, "ro")).build()), Status.Code.FAILED_PRECONDITION);
    try (var left = Files.list(target)) {
      assertThat(left).isEmpty();
    }
  }

  @Test
  void blobCorruptedOnDiskIsDataLoss() throws IOException {
    byte[] tar = new LayerBuilder().file("f", "original content", 0644).tar();
    Digest d = LayerBuilder.put(store, tar, Map.of());
    Path blob = tmp.resolve("state/content/blobs/sha256").resolve(d.hex());
    Files.setPosixFilePermissions(blob, PosixFilePermissions.fromString("rw-r--r--"));
    String s = new String(tar, StandardCharsets.ISO_8859_1).replace("original", "tampered");
    Files.write(blob, s.getBytes(StandardCharsets.ISO_8859_1));

    assertCode(() -> client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER, d, tar.length))
        .addMounts(bind(dir("target"))).build()), Status.Code.DATA_LOSS);
  }

  @Test
  void diffIdIsCheckedAgainstTheUncompressedLabel() throws IOException {
    byte[] blob = LayerBuilder.gzip(sample());
    Digest wrong = Digest.sha256Of("not the tar".getBytes(StandardCharsets.UTF_8));
    Digest d = LayerBuilder.put(store, blob, Map.of(Labels.UNCOMPRESSED, wrong.toString()));
    assertCode(() -> client.apply(ApplyRequest.newBuilder().setDiff(desc(MediaTypes.OCI_LAYER_GZIP, d, blob.length))
        .addMounts(bind(dir("target"))).build()), Status.Code.DATA_LOSS);
  }

  /** Two trees that differ by an addition, a change, a removal and a new directory. */
  Path[] lowerAndUpper() throws IOException {
    Path lower = dir("lower");
    Files.writeString(lower.resolve("same"), "same");
    Files.writeString(lower.resolve("changed"), "before");
    Files.writeString(lower.resolve("removed"), "bye");
    Files.createDirectories(lower.resolve("dir"));
    Path upper = dir("upper");
    Files.writeString(upper.resolve("same"), "same");
    Files.setLastModifiedTime(upper.resolve("same"), Files.getLastModifiedTime(lower.resolve("same")));
    Files.writeString(upper.resolve("changed"), "after!");
    Files.createDirectories(upper.resolve("dir"));
    Files.setLastModifiedTime(upper.resolve("dir"), Files.getLastModifiedTime(lower.resolve("dir")));
    Files.createDirectories(upper.resolve("new/deeper"));
    Files.writeString(upper.resolve("new/deeper/file"), "added");
    return new Path[] {lower, upper};
  }

  byte[] read(Digest d) throws IOException {
    try (ReaderAt r = store.readerAt(d); InputStream in = r.stream()) {
      return in.readAllBytes();
    }
  }

  static byte[] gunzip(byte[] gz) throws IOException {
    try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(gz))) {
      return in.readAllBytes();
    }
  }

  @Test
  void diffWritesTheLayerIntoTheStoreWithItsDiffId() throws IOException {
    Path[] t = lowerAndUpper();
    Descriptor diff = client.diff(DiffRequest.newBuilder()
        .addLeft(bind(t[0], "ro")).addRight(bind(t[1], "ro"))
        .setRef("diff-test-ref").putLabels("team", "storage")
        .build()).getDiff();

    assertThat(diff.getMediaType()).isEqualTo(MediaTypes.OCI_LAYER_GZIP);
    Digest digest = Digest.parse(diff.getDigest());
    byte[] blob = read(digest);
    assertThat(blob).hasSize((int) diff.getSize());
    assertThat(Digest.sha256Of(blob)).isEqualTo(digest);
    Digest diffId = Digest.sha256Of(gunzip(blob));
    Info info = store.info(digest);
    assertThat(info.labels()).containsEntry(Labels.UNCOMPRESSED, diffId.toString()).containsEntry("team", "storage");
    assertThat(store.statuses()).isEmpty();

    // Round trip: the layer applied onto a copy of lower gives upper.
    Path copy = dir("copy");
    Files.writeString(copy.resolve("same"), "same");
    Files.writeString(copy.resolve("changed"), "before");
    Files.writeString(copy.resolve("removed"), "bye");
    Files.createDirectories(copy.resolve("dir"));
    Descriptor applied = client.apply(ApplyRequest.newBuilder().setDiff(diff).addMounts(bind(copy)).build())
        .getApplied();
    assertThat(applied.getDigest()).isEqualTo(diffId.toString());
    TreeAssert.assertTreesEqual(t[1], copy);
  }

  @Test
  void diffHonoursTheMediaType() throws IOException {
    Path[] t = lowerAndUpper();
    Descriptor plain = client.diff(DiffRequest.newBuilder().addLeft(bind(t[0])).addRight(bind(t[1]))
        .setMediaType(MediaTypes.OCI_LAYER).build()).getDiff();
    assertThat(plain.getMediaType()).isEqualTo(MediaTypes.OCI_LAYER);
    assertThat(store.info(Digest.parse(plain.getDigest())).labels())
        .containsEntry(Labels.UNCOMPRESSED, plain.getDigest());

    Descriptor zstd = client.diff(DiffRequest.newBuilder().addLeft(bind(t[0])).addRight(bind(t[1]))
        .setMediaType(MediaTypes.OCI_LAYER_ZSTD).build()).getDiff();
    assertThat(zstd.getMediaType()).isEqualTo(MediaTypes.OCI_LAYER_ZSTD);
    byte[] z = read(Digest.parse(zstd.getDigest()));
    assertThat(z[0] & 0xff).isEqualTo(0x28);
    assertThat(store.info(Digest.parse(zstd.getDigest())).labels()).containsEntry(Labels.UNCOMPRESSED, plain.getDigest());

    assertCode(() -> client.diff(DiffRequest.newBuilder().addLeft(bind(t[0])).addRight(bind(t[1]))
        .setMediaType("application/vnd.example.layer").build()), Status.Code.UNIMPLEMENTED);
    assertCode(() -> client.diff(DiffRequest.newBuilder().addLeft(bind(t[0])).addRight(bind(t[1]))
        .setSourceDateEpoch(com.google.protobuf.Timestamp.newBuilder().setSeconds(1)).build()),
        Status.Code.UNIMPLEMENTED);
    assertCode(() -> client.diff(DiffRequest.newBuilder().addLeft(bind(t[0])).build()), Status.Code.INVALID_ARGUMENT);
    assertThat(store.statuses()).isEmpty();
  }

  @Test
  void diffAgainstNothingAndTwiceTheSame() throws IOException {
    Path[] t = lowerAndUpper();
    Descriptor first = client.diff(DiffRequest.newBuilder().addRight(bind(t[1])).build()).getDiff();
    Descriptor again = client.diff(DiffRequest.newBuilder().addRight(bind(t[1])).putLabels("extra", "1").build())
        .getDiff();
    assertThat(again).isEqualTo(first);
    Map<String, String> labels = store.info(Digest.parse(first.getDigest())).labels();
    assertThat(labels).containsKeys(Labels.UNCOMPRESSED, "extra");
    List<String> names = new java.util.ArrayList<>();
    var tar = new dev.lamina.archive.TarReader(new GZIPInputStream(
        new java.io.ByteArrayInputStream(read(Digest.parse(first.getDigest())))));
    for (var e = tar.next(); e != null; e = tar.next()) {
      names.add(e.name());
    }
    assertThat(names).contains("same", "new/deeper/file").noneMatch(n -> n.contains(".wh."));
  }

  @Test
  void diffIntoALockedRefIsUnavailable() throws IOException {
    Path[] t = lowerAndUpper();
    try (Writer busy = store.writer("busy", -1, null)) {
      assertCode(() -> client.diff(DiffRequest.newBuilder().addLeft(bind(t[0])).addRight(bind(t[1])).setRef("busy")
          .build()), Status.Code.UNAVAILABLE);
    }
  }

  @Test
  void diffOfAnActiveOverlayReadsItsUpperDirAsALowerDir() throws IOException {
    assumeRoot();
    Path base = dir("base");
    Files.writeString(base.resolve("keep"), "keep");
    Files.writeString(base.resolve("delete-me"), "x");
    Path upper = dir("ov-upper");
    Path work = dir("ov-work");
    Path merged = dir("ov-merged");
    String options = "lowerdir=" + base + ",upperdir=" + upper + ",workdir=" + work;
    Posix.get().mount("overlay", merged, "overlay", 0, options);
    try {
      Files.delete(merged.resolve("delete-me"));
      Files.writeString(merged.resolve("added"), "added");
    } finally {
      Posix.get().unmount(merged, 0);
    }
    Mount overlay = Mount.newBuilder().setType("overlay").setSource("overlay")
        .addOptions("lowerdir=" + base).addOptions("upperdir=" + upper).addOptions("workdir=" + work).build();
    Descriptor diff = client.diff(DiffRequest.newBuilder().addLeft(bind(base, "ro")).addRight(overlay)
        .setMediaType(MediaTypes.OCI_LAYER).build()).getDiff();

    List<String> names = new java.util.ArrayList<>();
    var tar = new dev.lamina.archive.TarReader(new java.io.ByteArrayInputStream(read(Digest.parse(diff.getDigest()))));
    for (var e = tar.next(); e != null; e = tar.next()) {
      names.add(e.name());
    }
    assertThat(names).containsExactlyInAnyOrder("added", ".wh.delete-me");
    assertThat(MountInfo.mountsAtOrUnder(tmp)).isEmpty();
  }
}
