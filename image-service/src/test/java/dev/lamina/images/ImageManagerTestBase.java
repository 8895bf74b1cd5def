package dev.lamina.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.TarApplier;
import dev.lamina.content.LocalContentStore;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fs.DiskUsage;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.posix.Posix;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.remotes.RegistryOptions;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.HostsConfig;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** A manager on a snapshotter of the subclass's kind, a canned registry, and ways to look at the result. */
abstract class ImageManagerTestBase {
  @TempDir Path tmp;
  TestRegistry registry;
  Path root;
  Snapshotter snapshotter;
  LocalContentStore content;
  RegistryClient client;
  LocalImageManager manager;

  /** Opens the snapshotter under test at {@code root}. */
  abstract Snapshotter openSnapshotter(Path root) throws IOException;

  /** The files an image's top snapshot shows, as a container would see them. */
  abstract TreeSnapshot rootfs(ImageRecord image) throws IOException;

  @BeforeEach
  void start() throws Exception {
    registry = new TestRegistry();
    root = tmp.resolve("root");
    snapshotter = openSnapshotter(root);
    content = LocalContentStore.open(root.resolve("content"));
    client = new RegistryClient(RegistryOptions.defaults()
        .withHosts(HostsConfig.directory(registry.hostsDir(tmp.resolve("hosts"))))
        .withRetries(2, Duration.ofMillis(5), Duration.ofMillis(20), Duration.ofSeconds(1))
        .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(10)));
    manager = open(ImageManagerOptions.defaults(root));
  }

  LocalImageManager open(ImageManagerOptions options) throws IOException {
    return LocalImageManager.open(options, content, snapshotter, client);
  }

  /** Closes the manager and opens another on the same state, with {@code options}. */
  void reopen(ImageManagerOptions options) throws IOException {
    manager.close();
    manager = open(options);
  }

  @AfterEach
  void stop() throws Exception {
    if (manager != null) {
      manager.close();
    }
    if (content != null) {
      content.close();
    }
    if (snapshotter != null) {
      snapshotter.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  String ref(String repoAndTag) {
    return registry.authority() + "/" + repoAndTag;
  }

  ImageRecord pull(String repoAndTag) throws IOException {
    return manager.pull(ref(repoAndTag), Credentials.anonymous(), PullListener.NONE);
  }

  static LaminaException failure(Call call) {
    Throwable t = catchThrowable(call::run);
    assertThat(t).isInstanceOf(LaminaException.class);
    return (LaminaException) t;
  }

  interface Call {
    void run() throws Exception;
  }

  static void assertKind(LaminaException e, ErrorKind kind) {
    assertThat(e.kind()).as(e.getMessage()).isEqualTo(kind);
  }

  // ---------------------------------------------------------------------------------------------
  // the oracle: the layers applied one onto the other, naively

  TreeSnapshot naive(List<Images.Layer> layers) throws IOException {
    Path dir = Files.createTempDirectory(tmp, "naive-");
    for (Images.Layer l : layers) {
      new TarApplier(ApplyOptions.defaults()).apply(new ByteArrayInputStream(l.tar()), dir);
    }
    return TreeSnapshot.of(dir);
  }

  void assertRootfs(ImageRecord image, List<Images.Layer> layers) throws IOException {
    TreeSnapshot expected = naive(layers);
    TreeSnapshot actual = rootfs(image);
    assertThat(expected.differences(actual)).as("differences from the layers applied naively").isEmpty();
  }

  // ---------------------------------------------------------------------------------------------
  // state

  List<Info> snapshots() throws IOException {
    List<Info> all = new ArrayList<>();
    snapshotter.walk(all::add, List.of());
    return all;
  }

  List<String> committed() throws IOException {
    return snapshots().stream().filter(i -> i.kind() == Kind.COMMITTED).map(Info::name).sorted().toList();
  }

  List<Info> notCommitted() throws IOException {
    return snapshots().stream().filter(i -> i.kind() != Kind.COMMITTED).toList();
  }

  List<Digest> blobs() throws IOException {
    List<Digest> all = new ArrayList<>();
    content.walk(i -> all.add(i.digest()), List.of());
    return all;
  }

  /** What {@code du} finds: every blob file, and every committed snapshot's tree. */
  long[] walkedUsage() throws IOException {
    long bytes = 0;
    long inodes = 0;
    Path dir = root.resolve("content").resolve("blobs").resolve("sha256");
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
      for (Path f : files) {
        bytes += Posix.get().lstat(f).allocatedBytes();
        inodes++;
      }
    }
    for (String name : committed()) {
      DiskUsage du = DiskUsage.of(((DirectorySnapshotter) snapshotter).directoryOf(name).resolve("fs"));
      bytes += du.size();
      inodes += du.inodes();
    }
    return new long[] {bytes, inodes};
  }

  void assertUsageMatchesWalk() throws IOException {
    long[] walked = walkedUsage();
    FilesystemUsage u = manager.usage();
    assertThat(u.mountpoint()).isEqualTo(root.toAbsolutePath().normalize());
    assertThat(new long[] {u.usedBytes(), u.inodesUsed()}).as("counted vs walked (bytes, inodes)")
        .containsExactly(walked);
  }
}
