package dev.lamina.snapshots.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetaStoreTest {
  @TempDir Path tmp;
  MetaStore ms;

  @BeforeEach
  void open() throws IOException {
    ms = MetaStore.open(tmp.resolve("metadata.db"));
  }

  @AfterEach
  void close() {
    ms.close();
  }

  private static void assertKind(ThrowingCall call, ErrorKind kind) {
    assertThatThrownBy(call::run).isInstanceOf(LaminaException.class)
        .satisfies(e -> assertThat(((LaminaException) e).kind()).as(e.getMessage()).isEqualTo(kind));
  }

  interface ThrowingCall {
    void run() throws Exception;
  }

  @Test
  void createCommitRemoveWithContainerdErrors() throws Exception {
    Snapshot a = ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of("l", "v", "empty", "")));
    assertThat(a.parentIds()).isEmpty();
    Map<String, String> labels = ms.read(tx -> tx.getInfo("a").info().labels());
    assertThat(labels).isEqualTo(Map.of("l", "v"));
    assertKind(() -> ms.write(tx -> tx.createSnapshot(Kind.VIEW, "x", "a", Map.of())), ErrorKind.INVALID_ARGUMENT);
    assertKind(() -> ms.write(tx -> tx.createSnapshot(Kind.COMMITTED, "x", "", Map.of())), ErrorKind.INVALID_ARGUMENT);
    assertKind(() -> ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "x", "nope", Map.of())), ErrorKind.NOT_FOUND);
    assertKind(() -> ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of())), ErrorKind.ALREADY_EXISTS);

    long id = ms.write(tx -> tx.commitActive("a", "c", new Usage(3, 12288), "", Map.of()));
    assertThat(id).isEqualTo(a.id());
    StoredInfo c = ms.read(tx -> tx.getInfo("c"));
    assertThat(c.usage()).isEqualTo(new Usage(3, 12288));
    assertThat(c.info().labels()).isEmpty();
    assertKind(() -> ms.read(tx -> tx.getSnapshot("c")), ErrorKind.FAILED_PRECONDITION);

    Snapshot b = ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "b", "c", Map.of()));
    assertThat(b.parentIds()).containsExactly(a.id());
    assertKind(() -> ms.write(tx -> tx.remove("c")), ErrorKind.FAILED_PRECONDITION);
    Transaction.Removed removed = ms.write(tx -> tx.remove("b"));
    assertThat(removed).isEqualTo(new Transaction.Removed(b.id(), Kind.ACTIVE));
    ms.write(tx -> tx.remove("c"));
    java.util.Set<Long> left = ms.read(tx -> tx.ids());
    assertThat(left).isEmpty();
    // ids are never reused
    Snapshot d = ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "d", "", Map.of()));
    assertThat(d.id()).isGreaterThan(b.id());
  }

  @Test
  void longChainsComeBackInOneQueryNewestFirst() throws Exception {
    String parent = "";
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      String p = parent;
      String k = "k" + i;
      Snapshot s = ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, k, p, Map.of()));
      ms.write(tx -> tx.commitActive(k, "c" + k, Usage.ZERO, "", Map.of()));
      ids.add(0, s.id());
      parent = "c" + k;
    }
    String top = parent;
    Snapshot v = ms.write(tx -> tx.createSnapshot(Kind.VIEW, "v", top, Map.of()));
    assertThat(v.parentIds()).isEqualTo(ids);
    Snapshot again = ms.read(tx -> tx.getSnapshot("v"));
    assertThat(again.parentIds()).isEqualTo(ids);
  }

  @Test
  void chainsKnownInMemoryAgreeWithTheDatabaseAsTheyGrowAndShrink() throws Exception {
    List<Long> ids = new ArrayList<>();
    String top = "";
    for (int i = 0; i < 20; i++) {
      top = commitOn(top, "c" + i, ids);
    }
    String first = top;
    ms.write(tx -> tx.createSnapshot(Kind.VIEW, "v1", first, Map.of()));
    assertThat(ms.read(tx -> tx.getSnapshot("v1")).parentIds()).isEqualTo(ids);
    assertThat(ms.committedParents().size()).isEqualTo(20);

    // the chain grows past what is known: the known part and the queried part join up
    List<Long> longer = new ArrayList<>(ids);
    for (int i = 20; i < 30; i++) {
      top = commitOn(top, "c" + i, longer);
    }
    String second = top;
    ms.write(tx -> tx.createSnapshot(Kind.VIEW, "v2", second, Map.of()));
    assertThat(ms.read(tx -> tx.getSnapshot("v2")).parentIds()).isEqualTo(longer);
    assertThat(ms.read(tx -> tx.getSnapshot("v1")).parentIds()).isEqualTo(ids);
    assertThat(ms.committedParents().size()).isEqualTo(30);

    // another store on the same file starts knowing nothing and reads the same chains
    try (MetaStore other = MetaStore.open(tmp.resolve("metadata.db"))) {
      assertThat(other.committedParents().size()).isZero();
      assertThat(other.read(tx -> tx.getSnapshot("v2")).parentIds()).isEqualTo(longer);
    }

    // removing the top of the longer chain forgets it once the removal commits
    ms.write(tx -> tx.remove("v2"));
    ms.write(tx -> tx.remove(second));
    assertThat(ms.committedParents().parentOf(longer.get(0))).isNull();
    assertThat(ms.committedParents().size()).isEqualTo(29);
    List<Long> below = ms.read(tx -> tx.committedChain("c28"));
    assertThat(below).isEqualTo(longer.subList(1, longer.size()));
  }

  @Test
  void aChainWalkedInsideARolledBackCommitIsNotRemembered() throws Exception {
    ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "base-x", "", Map.of()));
    ms.write(tx -> tx.commitActive("base-x", "x", Usage.ZERO, "", Map.of()));
    ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "base-y", "", Map.of()));
    long y = ms.write(tx -> tx.commitActive("base-y", "y", Usage.ZERO, "", Map.of()));
    // prepared without a parent, as a parallel unpack does; the commit rebases it
    long a = ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of())).id();
    assertThatThrownBy(() -> ms.write(tx -> {
      tx.commitActive("a", "top", Usage.ZERO, "x", Map.of());
      assertThat(tx.committedChain("top")).hasSize(2);
      throw new IOException("abandoned");
    })).hasMessage("abandoned");
    assertThat(ms.committedParents().parentOf(a)).isNull();

    ms.write(tx -> tx.commitActive("a", "top", Usage.ZERO, "y", Map.of()));
    ms.write(tx -> tx.createSnapshot(Kind.VIEW, "v", "top", Map.of()));
    assertThat(ms.read(tx -> tx.getSnapshot("v")).parentIds()).containsExactly(a, y);
  }

  private String commitOn(String parent, String name, List<Long> newestFirst) throws IOException {
    Snapshot s = ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "active-" + name, parent, Map.of()));
    ms.write(tx -> tx.commitActive("active-" + name, name, Usage.ZERO, "", Map.of()));
    newestFirst.add(0, s.id());
    return name;
  }

  @Test
  void rollbackRunsUndoNewestFirstAndCommitRunsAfterCommit() throws Exception {
    List<String> log = new ArrayList<>();
    assertThatThrownBy(() -> ms.write(tx -> {
      tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of());
      tx.onRollback(() -> log.add("undo 1"));
      tx.onRollback(() -> log.add("undo 2"));
      tx.afterCommit(() -> log.add("after"));
      throw new IOException("fail");
    })).hasMessage("fail");
    assertThat(log).containsExactly("undo 2", "undo 1");
    assertKind(() -> ms.read(tx -> tx.getInfo("a")), ErrorKind.NOT_FOUND);

    log.clear();
    ms.write(tx -> {
      tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of());
      tx.onRollback(() -> log.add("undo"));
      tx.afterCommit(() -> log.add("after"));
      return null;
    });
    assertThat(log).containsExactly("after");
    StoredInfo kept = ms.read(tx -> tx.getInfo("a"));
    assertThat(kept.info().kind()).isEqualTo(Kind.ACTIVE);
  }

  @Test
  void nestedWritesAreRefused() {
    assertThatThrownBy(() -> ms.write(tx -> ms.write(inner -> null))).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void readersSeeOnlyCommittedStateAndDoNotBlockTheWriter() throws Exception {
    ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of()));
    CountDownLatch inWrite = new CountDownLatch(1);
    CountDownLatch readDone = new CountDownLatch(1);
    ExecutorService pool = Executors.newSingleThreadExecutor();
    Future<?> writer = pool.submit(() -> ms.write(tx -> {
      tx.remove("a");
      inWrite.countDown();
      try {
        assertThat(readDone.await(10, TimeUnit.SECONDS)).isTrue();
      } catch (InterruptedException e) {
        throw new IOException(e);
      }
      return null;
    }));
    assertThat(inWrite.await(10, TimeUnit.SECONDS)).isTrue();
    StoredInfo seen = ms.read(tx -> tx.getInfo("a"));
    assertThat(seen.info().name()).isEqualTo("a");
    readDone.countDown();
    writer.get(10, TimeUnit.SECONDS);
    pool.shutdown();
    assertKind(() -> ms.read(tx -> tx.getInfo("a")), ErrorKind.NOT_FOUND);
  }

  @Test
  void concurrentWritersAreSerialized() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Future<?>> fs = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      int id = t;
      fs.add(pool.submit(() -> {
        for (int i = 0; i < 50; i++) {
          String k = "t" + id + "-" + i;
          ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, k, "", Map.of("t", Integer.toString(id))));
          ms.read(tx -> tx.getInfo(k));
        }
        return null;
      }));
    }
    for (Future<?> f : fs) {
      f.get(2, TimeUnit.MINUTES);
    }
    pool.shutdown();
    List<Info> all = ms.read(tx -> tx.walk(List.of()));
    List<Info> three = ms.read(tx -> tx.walk(List.of("labels.t==3")));
    assertThat(all).hasSize(400);
    assertThat(three).hasSize(50);
  }

  @Test
  void updateOnlyTouchesLabels() throws Exception {
    ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of("keep", "1", "drop", "2")));
    Info before = ms.read(tx -> tx.getInfo("a").info());
    Info after = ms.write(tx -> tx.updateInfo(new Info(Kind.COMMITTED, "a", "x", Map.of("new", "3"), null, null), List.of("labels.drop", "labels.new")));
    assertThat(after.labels()).isEqualTo(Map.of("keep", "1", "new", "3"));
    assertThat(after.kind()).isEqualTo(Kind.ACTIVE);
    assertThat(after.parent()).isEmpty();
    assertThat(after.created()).isEqualTo(before.created());
    assertThat(after.updated()).isAfterOrEqualTo(before.updated());
    Info reread = ms.read(tx -> tx.getInfo("a").info());
    assertThat(reread).isEqualTo(after);
  }

  @Test
  void reopenKeepsDataAndCloseIsIdempotent() throws Exception {
    ms.write(tx -> tx.createSnapshot(Kind.ACTIVE, "a", "", Map.of("l", "v")));
    Info info = ms.read(tx -> tx.getInfo("a").info());
    ms.close();
    ms.close();
    assertKind(() -> ms.read(tx -> tx.ids()), ErrorKind.FAILED_PRECONDITION);
    ms = MetaStore.open(tmp.resolve("metadata.db"));
    Info reread = ms.read(tx -> tx.getInfo("a").info());
    assertThat(reread).isEqualTo(info);
  }
}
