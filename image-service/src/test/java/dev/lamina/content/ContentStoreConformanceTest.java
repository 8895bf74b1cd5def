package dev.lamina.content;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every content store must do (containerd's {@code core/content/testsuite}); an
 * implementation's test extends this and says how to open a store on a directory.
 */
abstract class ContentStoreConformanceTest {
  @TempDir Path root;
  Store store;

  /** Opens the store kept under {@code root}; called again on the same root to test reopening. */
  abstract Store create(Path root) throws IOException;

  @BeforeEach
  void open() throws IOException {
    store = create(root);
  }

  @AfterEach
  void close() throws IOException {
    store.close();
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static Digest digestOf(byte[] data) {
    return Digest.sha256Of(data);
  }

  static void assertKind(ThrowingCallable call, ErrorKind kind) {
    assertThatThrownBy(call).isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(kind));
  }

  Digest put(String ref, byte[] data, Map<String, String> labels) throws IOException {
    try (Writer w = store.writer(ref, data.length, digestOf(data))) {
      w.write(data, 0, data.length);
      w.commit(data.length, digestOf(data), labels);
    }
    return digestOf(data);
  }

  byte[] read(Digest digest) throws IOException {
    try (ReaderAt r = store.readerAt(digest); InputStream in = r.stream()) {
      return in.readAllBytes();
    }
  }

  @Test
  void writesAreVerifiedAndReadable() throws IOException {
    byte[] data = bytes("hello, content");
    Digest d;
    try (Writer w = store.writer("ref-1", -1, null)) {
      w.write(data, 0, 5);
      w.write(data, 5, data.length - 5);
      assertThat(w.offset()).isEqualTo(data.length);
      assertThat(w.digest()).isEqualTo(digestOf(data));
      w.commit(data.length, digestOf(data), Map.of("a", "1"));
      d = digestOf(data);
    }
    assertThat(read(d)).isEqualTo(data);
    Info info = store.info(d);
    assertThat(info.size()).isEqualTo(data.length);
    assertThat(info.labels()).containsExactly(Map.entry("a", "1"));
    assertThat(info.createdAt()).isNotNull();
    assertThat(store.statuses()).isEmpty();
    try (ReaderAt r = store.readerAt(d)) {
      assertThat(r.size()).isEqualTo(data.length);
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(7);
      assertThat(r.readAt(b, 7)).isEqualTo(7);
      assertThat(new String(b.array(), StandardCharsets.UTF_8)).isEqualTo("content");
      assertThat(r.readAt(java.nio.ByteBuffer.allocate(1), data.length)).isEqualTo(-1);
    }
  }

  @Test
  void emptyBlob() throws IOException {
    Digest d = put("empty", new byte[0], Map.of());
    assertThat(store.info(d).size()).isZero();
    assertThat(read(d)).isEmpty();
  }

  @Test
  void wrongDigestIsRejectedAndNothingIsCommitted() throws IOException {
    byte[] data = bytes("the real bytes");
    Digest other = digestOf(bytes("other bytes"));
    try (Writer w = store.writer("bad-digest", -1, null)) {
      w.write(data, 0, data.length);
      assertKind(() -> w.commit(data.length, other, Map.of()), ErrorKind.FAILED_PRECONDITION);
    }
    assertKind(() -> store.info(other), ErrorKind.NOT_FOUND);
    assertKind(() -> store.info(digestOf(data)), ErrorKind.NOT_FOUND);
    assertKind(() -> store.readerAt(digestOf(data)), ErrorKind.NOT_FOUND);
    List<Info> all = new ArrayList<>();
    store.walk(all::add, List.of());
    assertThat(all).isEmpty();
    // The ingest stays (the caller may truncate and retry) until aborted.
    assertThat(store.status("bad-digest").offset()).isEqualTo(data.length);
    store.abort("bad-digest");
    assertKind(() -> store.status("bad-digest"), ErrorKind.NOT_FOUND);
  }

  @Test
  void digestExpectedAtOpenIsCheckedAtCommit() throws IOException {
    byte[] data = bytes("abc");
    try (Writer w = store.writer("open-digest", -1, digestOf(bytes("xyz")))) {
      w.write(data, 0, data.length);
      assertKind(() -> w.commit(-1, null, Map.of()), ErrorKind.FAILED_PRECONDITION);
    }
    assertKind(() -> store.info(digestOf(data)), ErrorKind.NOT_FOUND);
  }

  @Test
  void wrongSizeIsRejectedAndNothingIsCommitted() throws IOException {
    byte[] data = bytes("twelve bytes");
    try (Writer w = store.writer("bad-size", -1, null)) {
      w.write(data, 0, data.length);
      assertKind(() -> w.commit(data.length + 1, digestOf(data), Map.of()), ErrorKind.FAILED_PRECONDITION);
      assertKind(() -> w.commit(data.length - 1, null, Map.of()), ErrorKind.FAILED_PRECONDITION);
    }
    assertKind(() -> store.info(digestOf(data)), ErrorKind.NOT_FOUND);
  }

  @Test
  void expectedTotalIsEnforced() throws IOException {
    byte[] data = bytes("0123456789");
    try (Writer w = store.writer("total", 4, null)) {
      w.write(data, 0, 4);
      assertKind(() -> w.write(data, 4, 1), ErrorKind.FAILED_PRECONDITION);
    }
    try (Writer w = store.writer("short", 8, null)) {
      w.write(data, 0, 4);
      assertKind(() -> w.commit(-1, null, Map.of()), ErrorKind.FAILED_PRECONDITION);
    }
    assertKind(() -> store.writer("short", 9, null), ErrorKind.FAILED_PRECONDITION);
  }

  @Test
  void existingBlobMakesCommitAlreadyExistsWithoutTouchingIt() throws Exception {
    byte[] data = bytes("same bytes twice");
    Digest d = put("first", data, Map.of("keep", "me"));
    Info before = store.info(d);
    // Known up front: the writer is refused.
    assertKind(() -> store.writer("second", data.length, d), ErrorKind.ALREADY_EXISTS);
    // Not known up front: found at commit, and the ingest is cleaned away.
    try (Writer w = store.writer("third", -1, null)) {
      w.write(data, 0, data.length);
      assertKind(() -> w.commit(data.length, d, Map.of("keep", "not")), ErrorKind.ALREADY_EXISTS);
    }
    assertThat(store.statuses()).isEmpty();
    Info after = store.info(d);
    assertThat(after).isEqualTo(before);
    assertThat(read(d)).isEqualTo(data);
  }

  @Test
  void resumesAfterReopen() throws IOException {
    byte[] data = new byte[3 * 1024 * 1024 + 17];
    new java.util.Random(7).nextBytes(data);
    int half = data.length / 2;
    try (Writer w = store.writer("resumable", data.length, null)) {
      w.write(data, 0, half);
    }
    store.close();
    store = create(root);
    Status st = store.status("resumable");
    assertThat(st.offset()).isEqualTo(half);
    assertThat(st.total()).isEqualTo(data.length);
    assertThat(store.statuses()).extracting(Status::ref).containsExactly("resumable");
    try (Writer w = store.writer("resumable", data.length, digestOf(data))) {
      assertThat(w.offset()).isEqualTo(half);
      w.write(data, half, data.length - half);
      w.commit(data.length, digestOf(data), Map.of());
    }
    assertThat(read(digestOf(data))).isEqualTo(data);
  }

  @Test
  void truncateStartsOver() throws IOException {
    byte[] data = bytes("right");
    try (Writer w = store.writer("truncate", -1, null)) {
      byte[] wrong = bytes("wrong!");
      w.write(wrong, 0, wrong.length);
      w.truncate(0);
      assertThat(w.offset()).isZero();
      w.write(data, 0, data.length);
      w.commit(data.length, digestOf(data), Map.of());
    }
    assertThat(read(digestOf(data))).isEqualTo(data);
  }

  @Test
  void secondWriterOfALockedRefIsRefused() throws Exception {
    try (Writer w = store.writer("locked", -1, null)) {
      assertKind(() -> store.writer("locked", -1, null), ErrorKind.UNAVAILABLE);
      assertKind(() -> store.abort("locked"), ErrorKind.UNAVAILABLE);
      w.write(bytes("x"), 0, 1);
    }
    try (Writer w = store.writer("locked", -1, null)) {
      assertThat(w.offset()).isEqualTo(1);
    }
  }

  @Test
  void concurrentWritersOfOneRefOnlyOneWins() throws Exception {
    int n = 8;
    ExecutorService pool = Executors.newFixedThreadPool(n);
    CountDownLatch start = new CountDownLatch(1);
    CountDownLatch hold = new CountDownLatch(1);
    try {
      List<Future<ErrorKind>> results = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        results.add(pool.submit((Callable<ErrorKind>) () -> {
          start.await();
          try (Writer w = store.writer("contended", -1, null)) {
            hold.await();
            return null;
          } catch (LaminaException e) {
            return e.kind();
          }
        }));
      }
      start.countDown();
      Thread.sleep(200);
      hold.countDown();
      List<ErrorKind> kinds = new ArrayList<>();
      for (Future<ErrorKind> f : results) {
        kinds.add(f.get());
      }
      assertThat(kinds).filteredOn(k -> k == null).hasSizeBetween(1, n);
      assertThat(kinds).filteredOn(k -> k != null).containsOnly(ErrorKind.UNAVAILABLE);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void labelsAreUpdatedAndKept() throws IOException {
    Digest d = put("labelled", bytes("labelled"), Map.of("a", "1", "b", "2"));
    Info i = store.update(Info.ofLabels(d, Map.of("a", "one", "c", "3")), List.of("labels.a", "labels.b"));
    assertThat(i.labels()).containsOnly(Map.entry("a", "one"));
    i = store.update(Info.ofLabels(d, Map.of("x", "y")), List.of("labels"));
    assertThat(i.labels()).containsOnly(Map.entry("x", "y"));
    i = store.update(Info.ofLabels(d, Map.of(Labels.UNCOMPRESSED, "sha256:" + "0".repeat(64))), List.of());
    assertThat(i.labels()).containsOnlyKeys(Labels.UNCOMPRESSED);
    assertThat(i.updatedAt()).isAfterOrEqualTo(i.createdAt());
    assertKind(() -> store.update(Info.ofLabels(d, Map.of()), List.of("size")), ErrorKind.INVALID_ARGUMENT);
    assertKind(() -> store.update(Info.ofLabels(d, Map.of("k", "v".repeat(5000))), List.of()),
        ErrorKind.INVALID_ARGUMENT);
    assertKind(() -> store.update(Info.ofLabels(digestOf(bytes("nope")), Map.of()), List.of()), ErrorKind.NOT_FOUND);

    store.close();
    store = create(root);
    assertThat(store.info(d).labels()).containsOnlyKeys(Labels.UNCOMPRESSED);
  }

  @Test
  void walkFilters() throws IOException {
    Digest a = put("a", bytes("a"), Map.of(Labels.UNCOMPRESSED, "sha256:" + "1".repeat(64), "team", "x"));
    Digest b = put("b", bytes("b"), Map.of("team", "y"));
    Digest c = put("c", bytes("c"), Map.of());
    assertThat(walk()).containsExactlyInAnyOrder(a, b, c);
    assertThat(walk("labels.\"containerd.io/uncompressed\"")).containsExactly(a);
    assertThat(walk("labels.team==y")).containsExactly(b);
    assertThat(walk("labels.team!=y")).containsExactlyInAnyOrder(a, c);
    assertThat(walk("labels.team==x", "labels.team==y")).containsExactlyInAnyOrder(a, b);
    assertThat(walk("labels.team,digest==" + b)).containsExactly(b);
    assertThat(walk("labels.team~=^[xy]$,size==1")).containsExactlyInAnyOrder(a, b);
    assertKind(() -> walk("labels.team=>x"), ErrorKind.INVALID_ARGUMENT);
  }

  List<Digest> walk(String... filters) throws IOException {
    List<Digest> found = new ArrayList<>();
    store.walk(i -> found.add(i.digest()), List.of(filters));
    return found;
  }

  @Test
  void deleteRemovesBlobAndLabels() throws IOException {
    byte[] data = bytes("deleted");
    Digest d = put("d", data, Map.of("x", "1"));
    store.delete(d);
    assertKind(() -> store.info(d), ErrorKind.NOT_FOUND);
    assertKind(() -> store.delete(d), ErrorKind.NOT_FOUND);
    put("d", data, Map.of());
    assertThat(store.info(d).labels()).isEmpty();
  }

  @Test
  void abortUnknownRefIsNotFound() {
    assertKind(() -> store.abort("never"), ErrorKind.NOT_FOUND);
    assertKind(() -> store.status("never"), ErrorKind.NOT_FOUND);
    assertKind(() -> store.writer("", -1, null), ErrorKind.INVALID_ARGUMENT);
  }
}
