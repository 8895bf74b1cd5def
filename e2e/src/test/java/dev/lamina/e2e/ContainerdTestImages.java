package dev.lamina.e2e;

import static dev.lamina.fstest.FsTree.chmod;
import static dev.lamina.fstest.FsTree.chown;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.symlink;
import static dev.lamina.fstest.FsTree.xattr;

import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.TreeSnapshot;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Images for the containerd tests, built with umoci in an OCI layout: a busybox rootfs
 * ({@code /bin/busybox} copied from the host's static busybox, applets as symlinks) and layers on
 * top that delete files and directories (umoci writes whiteouts), replace types, and one
 * hand-made layer with an opaque whiteout.
 */
final class ContainerdTestImages {
  static final Path BUSYBOX = Path.of("/bin/busybox");
  static final List<String> APPLETS = List.of("sh", "ls", "cat", "dd", "sync", "sleep", "echo", "rm", "mkdir",
      "du", "true", "false", "env", "id", "stat", "touch");

  private ContainerdTestImages() {}

  /**
   * A built image and umoci's unpack of it.
   *
   * @param oracle {@code umoci unpack}'s rootfs
   */
  record Built(Path layout, String tag, OciImage image, Path oracle) {
    /** The chain IDs of the layers, bottom first (containerd's snapshot names). */
    List<String> chainIds() {
      return ContainerdTestImages.chainIds(image.layers().stream().map(OciImage.Layer::diffId).toList());
    }
  }

  /** Whether the host's busybox is a static binary, which runs in a rootfs without libc. */
  static boolean busyboxIsStatic() throws IOException {
    return Files.isRegularFile(BUSYBOX)
        && Commands.run("file", "-L", BUSYBOX.toString()).stdout().contains("statically linked");
  }

  /** The busybox image: four layers, the third hand-made with an opaque directory. */
  static Built busybox(Path work, String tag) throws Exception {
    Path scratch = Files.createDirectories(work.resolve("scratch"));
    Umoci umoci = Umoci.create(work.resolve("layout"), tag, scratch);
    List<FsOp> base = new ArrayList<>(List.of(
        dir("bin", 0755),
        file("bin/busybox", Files.readAllBytes(BUSYBOX), 0755),
        dir("etc", 0755),
        file("etc/hostname", "lamina-e2e\n", 0644),
        file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0644),
        file("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0644),
        file("etc/gone", "deleted by layer 2\n", 0644),
        dir("tmp", 01777),
        dir("root", 0700),
        file("a/keep", "k\n", 0644),
        file("a/sub/x", "x\n", 0644),
        file("a/sub/deeper/y", "y\n", 0644),
        file("d", "file d\n", 0644),
        file("e/1", "e1\n", 0644),
        file("opq/old1", "old1\n", 0644),
        file("opq/old2", "old2\n", 0644),
        file("opq/sub/deep", "deep\n", 0644),
        xattr("opq", "user.keep", "1"),
        file("srv/owned", "owned\n", 0640),
        chown("srv/owned", 1000, 1001),
        chown("srv", 1000, 1001),
        file("usr/lib/data.bin", new byte[300_000], 0644),
        link("usr/lib/data-link.bin", "usr/lib/data.bin"),
        symlink("lib", "usr/lib")));
    for (String a : APPLETS) {
      base.add(symlink("bin/" + a, "busybox"));
    }
    umoci.layer(rootfs -> FsTree.apply(rootfs, base));
    umoci.layer(rootfs -> FsTree.apply(rootfs,
        remove("etc/gone"),
        remove("a/sub"),
        remove("d"),
        file("d/inside", "d is a directory now\n", 0644),
        // (not a directory replaced by a file: umoci 0.4.7 then writes e/.wh.1 beneath the new
        // file e, a layer containerd's applier rejects with "mkparent .../e: not a directory")
        remove("e/1"),
        chmod("srv", 0750),
        file("etc/added", "layer 2\n", 0644)));
    Path staging = scratch.resolve("staging-opaque");
    FsTree.apply(staging,
        dir("opq", 0755),
        xattr("opq", "user.keep", "1"),
        file("opq/.wh..wh..opq", "", 0644),
        file("opq/new1", "new1\n", 0644),
        file("etc/.wh.hostname", "", 0644),
        file("etc/.wh.never-existed", "", 0644));
    umoci.addRawLayer(tar(staging, scratch.resolve("opaque.tar"), List.of(
        "opq", "opq/.wh..wh..opq", "opq/new1", "etc/.wh.hostname", "etc/.wh.never-existed")));
    umoci.layer(rootfs -> FsTree.apply(rootfs,
        file("etc/hostname", "back again\n", 0644),
        file("opq/after", "after\n", 0644)));
    Commands.run("umoci", "config", "--image", umoci.image(), "--config.cmd", "/bin/sh").check();
    Path bundle = work.resolve("oracle");
    umoci.unpack(bundle);
    return new Built(umoci.layout(), tag, OciImage.read(umoci.layout(), tag), bundle.resolve("rootfs"));
  }

  /**
   * A pod sandbox ("pause") image: busybox in one layer, whose entrypoint sleeps in a shell loop
   * and exits on SIGTERM.
   */
  static Built pause(Path work, String tag) throws Exception {
    Path scratch = Files.createDirectories(work.resolve("scratch"));
    Umoci umoci = Umoci.create(work.resolve("layout"), tag, scratch);
    List<FsOp> base = new ArrayList<>(List.of(
        dir("bin", 0755),
        file("bin/busybox", Files.readAllBytes(BUSYBOX), 0755),
        dir("tmp", 01777)));
    for (String a : APPLETS) {
      base.add(symlink("bin/" + a, "busybox"));
    }
    umoci.layer(rootfs -> FsTree.apply(rootfs, base));
    umoci.config("--config.entrypoint", "/bin/sh", "--config.entrypoint", "-c",
        "--config.entrypoint", "trap 'exit 0' TERM; while :; do sleep 1; done");
    Path bundle = work.resolve("oracle");
    umoci.unpack(bundle);
    return new Built(umoci.layout(), tag, OciImage.read(umoci.layout(), tag), bundle.resolve("rootfs"));
  }

  /**
   * A deep image: busybox, then one raw layer per {@code layers/NNN} file up to {@code depth}
   * layers in all, and a last one that whites out {@code layers/005}. With lamina's snapshot
   * paths, the lowerdir list of its top snapshot is longer than a page.
   */
  static Built deep(Path work, String tag, int depth) throws Exception {
    Path scratch = Files.createDirectories(work.resolve("scratch"));
    Umoci umoci = Umoci.create(work.resolve("layout"), tag, scratch);
    List<FsOp> base = new ArrayList<>(List.of(
        file("bin/busybox", Files.readAllBytes(BUSYBOX), 0755),
        dir("layers", 0755)));
    for (String a : APPLETS) {
      base.add(symlink("bin/" + a, "busybox"));
    }
    umoci.layer(rootfs -> FsTree.apply(rootfs, base));
    for (int i = 1; i < depth - 1; i++) {
      String name = String.format("layers/%03d", i);
      Path staging = scratch.resolve("deep-" + i);
      FsTree.apply(staging, file(name, i + "\n", 0644));
      umoci.addRawLayer(tar(staging, scratch.resolve("deep-" + i + ".tar"), List.of(name)));
    }
    Path staging = scratch.resolve("deep-whiteout");
    FsTree.apply(staging, file("layers/.wh.005", "", 0644));
    umoci.addRawLayer(tar(staging, scratch.resolve("deep-whiteout.tar"), List.of("layers/.wh.005")));
    Path bundle = work.resolve("oracle");
    umoci.unpack(bundle);
    return new Built(umoci.layout(), tag, OciImage.read(umoci.layout(), tag), bundle.resolve("rootfs"));
  }

  /** containerd's chain IDs: {@code chain[0] = diff[0]}, {@code chain[i] = sha256(chain[i-1] + " " + diff[i])}. */
  static List<String> chainIds(List<String> diffIds) {
    List<String> out = new ArrayList<>();
    for (String d : diffIds) {
      out.add(out.isEmpty() ? d : "sha256:" + sha256(out.get(out.size() - 1) + " " + d));
    }
    return out;
  }

  private static String sha256(String s) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** An uncompressed PAX tar of {@code names} under {@code dir}, in exactly that order (GNU tar, no recursion). */
  static Path tar(Path dir, Path out, List<String> names) throws IOException {
    Path list = out.resolveSibling(out.getFileName() + ".list");
    Files.writeString(list, String.join("\n", names) + "\n", StandardCharsets.UTF_8);
    Commands.run("tar", "--format=pax", "--xattrs", "--xattrs-include=user.*", "--numeric-owner",
        "--no-recursion", "-C", dir.toString(), "-cf", out.toString(), "-T", list.toString()).check();
    return out;
  }

  /**
   * How the containerd tests compare trees: type, mode, owner, content, link targets, devices,
   * xattrs (security.selinux aside), hard links, and the mtimes of everything but directories
   * (appliers leave a directory a layer writes into without an entry of its own at the time of the
   * apply; see UmociOracleTest#assertSameTree).
   */
  static TreeSnapshot snapshot(Path root) throws IOException {
    TreeSnapshot s = TreeSnapshot.of(root, TreeSnapshot.Options.DEFAULT.ignoringXattrs("security.selinux").withMtimes());
    SortedMap<String, TreeSnapshot.Entry> entries = new TreeMap<>();
    s.entries().forEach((path, e) -> entries.put(path, e.type() != TreeSnapshot.Type.DIR ? e
        : new TreeSnapshot.Entry(e.type(), e.permissions(), e.uid(), e.gid(), e.size(), e.sha256(), e.linkTarget(),
            e.major(), e.minor(), e.xattrs(), e.hardLinkGroup(), null)));
    return new TreeSnapshot(entries, s.options());
  }
}
