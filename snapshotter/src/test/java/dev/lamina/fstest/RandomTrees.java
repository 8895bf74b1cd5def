package dev.lamina.fstest;

import dev.lamina.posix.Posix;
import java.nio.charset.Charset;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * Random but reproducible fixture pairs for round-trip tests: {@code a} builds a tree of
 * {@value #MIN_ENTRIES}..{@value #MAX_ENTRIES} entries, and {@code mutations}, applied on top of
 * (a copy of) it, turn it into {@code b}. The same seed and options always give equal op lists,
 * so a failure is replayed from the seed in its message.
 *
 * <p>Mutations cover adds, content changes, modes with setuid/setgid/sticky, deletes of files and
 * whole directories, file-to-directory and directory-to-file replacement, symlink retargeting,
 * hard links, user.* xattr add/change/remove and fifos; as root also ownership and char devices.
 * Names include spaces, leading dots, non-ASCII (where the JVM's locale can name them; see {@link
 * #unicodeNames()}) and >100-byte components, since tar headers treat those specially. Xattr
 * values are printable ASCII and never empty, because PAX records carry text and an empty PAX
 * value means "delete".
 *
 * <p>Without root, every mode keeps owner rwx on directories and rw on files, so the tree stays
 * writable, readable for snapshots, and removable by {@code @TempDir}.
 */
public final class RandomTrees {
  public static final int MIN_ENTRIES = 20;
  public static final int MAX_ENTRIES = 200;

  private static final int MAX_DEPTH = 4;
  private static final int MAX_XATTRS = 3;
  private static final int[] ROOT_FILE_MODES = {0644, 0600, 0755, 0700, 0444, 0000, 04755, 02755, 06711, 01644, 0640};
  private static final int[] USER_FILE_MODES = {0644, 0600, 0755, 0700, 0664, 04755, 02755, 06755, 0640};
  private static final int[] ROOT_DIR_MODES = {0755, 0700, 0775, 0750, 01777, 02775, 03755, 0555, 0311};
  private static final int[] USER_DIR_MODES = {0755, 0700, 0775, 0750, 01777, 02775, 03755, 0711};
  private static final int[] IDS = {0, 1, 2, 1000, 1001, 65534, 100000};
  // 0:0 is left out: overlayfs reads a 0/0 char device as a whiteout
  private static final int[][] CHAR_DEVICES = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}, {10, 200}, {136, 4}};
  private static final String[] DIR_WORDS = {"etc", "usr", "lib", "var", "opt", "share", "conf", "d"};
  private static final String[] FILE_WORDS = {"f", "bin", "data", "README", "lib.so", "config.json"};
  private static final String[] XATTR_NAMES = {"user.mime_type", "user.comment", "user.origin", "user.k"};
  private static final String UNICODE_SUFFIX = "-ünïcødé";
  /**
   * Java 17 encodes file names in the locale's charset, so under LANG=C it cannot name "ü" at all;
   * there the non-ASCII names become ASCII ones, drawn the same way so the rest of the tree is unchanged.
   */
  private static final boolean UNICODE_NAMES = canEncode(System.getProperty("sun.jnu.encoding", "UTF-8"), UNICODE_SUFFIX);

  private RandomTrees() {}

  /**
   * @param root whether ops may need root (ownership, device nodes, modes that drop owner access)
   * @param xattrs whether to set user.* xattrs; see {@link Root#supportsUserXattrs(Path)}
   */
  public record Options(boolean root, boolean xattrs) {
    public Options(boolean root) {
      this(root, true);
    }

    public static Options forCurrentUser() {
      return new Options(Posix.get().isRoot());
    }
  }

  /** A base tree {@code a} and the mutations that turn a copy of it into {@code b}. */
  public record Pair(long seed, Options options, List<FsOp> a, List<FsOp> mutations) {
    public Pair {
      a = List.copyOf(a);
      mutations = List.copyOf(mutations);
    }

    /** The ops that build {@code b} from scratch. */
    public List<FsOp> b() {
      return FsTree.concat(a, mutations);
    }

    @Override
    public String toString() {
      return "RandomTrees.generate(" + seed + ", " + options + "): " + a.size() + " ops for a, " + mutations.size() + " mutations";
    }
  }

  public static Pair generate(long seed, Options options) {
    return new Generator(seed, options).run();
  }

  /** Whether generated names include non-ASCII characters: false under a non-UTF-8 locale such as LANG=C. */
  public static boolean unicodeNames() {
    return UNICODE_NAMES;
  }

  private static boolean canEncode(String charset, String text) {
    try {
      return Charset.forName(charset).newEncoder().canEncode(text);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private enum Kind {
    DIR,
    FILE,
    SYMLINK,
    FIFO,
    CHARDEV
  }

  /** Model of one inode: hard links share it, so xattrs set through one path show on all. */
  private static final class Inode {
    final Kind kind;
    final TreeSet<String> xattrs = new TreeSet<>();

    Inode(Kind kind) {
      this.kind = kind;
    }
  }

  /** Emits ops while keeping a model of the tree, so every op is valid where it runs. */
  private static final class Generator {
    private final long seed;
    private final Options options;
    private final Random rnd;
    /** Path to inode; the root "" is implicit. */
    private final TreeMap<String, Inode> tree = new TreeMap<>();
    private List<FsOp> out;
    private int counter;

    Generator(long seed, Options options) {
      this.seed = seed;
      this.options = options;
      this.rnd = new Random(seed);
    }

    Pair run() {
      List<FsOp> a = new ArrayList<>();
      out = a;
      int target = MIN_ENTRIES + rnd.nextInt(100);
      while (tree.size() < target) {
        grow();
      }
      List<FsOp> mutations = new ArrayList<>();
      out = mutations;
      int count = 5 + rnd.nextInt(36);
      for (int i = 0; i < count; i++) {
        mutate();
      }
      return new Pair(seed, options, a, mutations);
    }

    private void grow() {
      int r = rnd.nextInt(100);
      if (r < 20) {
        addDir();
      } else if (r < 58) {
        addFile();
      } else if (r < 70) {
        addSymlink();
      } else if (r < 78) {
        if (!addHardLink()) {
          addFile();
        }
      } else if (r < 83) {
        addFifo();
      } else if (r < 88 && options.root()) {
        addCharDevice();
      } else if (r < 94 && options.xattrs()) {
        setXattr();
      } else if (options.root()) {
        chown();
      } else {
        addFile();
      }
    }

    private void mutate() {
      boolean room = tree.size() < MAX_ENTRIES - 3;
      boolean done = switch (rnd.nextInt(15)) {
        case 0 -> room && addFile();
        case 1 -> room && addDirWithFile();
        case 2 -> modifyContent();
        case 3 -> chmod();
        case 4 -> deleteNonDir();
        case 5 -> deleteDir();
        case 6 -> room && nonDirToDir();
        case 7 -> dirToFile();
        case 8 -> retargetSymlink();
        case 9 -> room && addHardLink();
        case 10 -> options.xattrs() && setXattr();
        case 11 -> options.xattrs() && removeXattr();
        case 12 -> options.root() && chown();
        case 13 -> room && (options.root() && rnd.nextBoolean() ? addCharDevice() : addFifo());
        default -> room && addSymlink();
      };
      if (!done) {
        // the picked kind had nothing to act on: a mode change always does
        if (!chmod()) {
          addFile();
        }
      }
    }

    // --- additions

    private String addDir() {
      String path = join(parentDir(), name(DIR_WORDS));
      emit(FsTree.dir(path, dirMode()));
      tree.put(path, new Inode(Kind.DIR));
      return path;
    }

    private boolean addDirWithFile() {
      return addFileIn(addDir());
    }

    private boolean addFile() {
      return addFileIn(parentDir());
    }

    private boolean addFileIn(String parent) {
      String path = join(parent, name(FILE_WORDS));
      emit(FsTree.file(path, content(), fileMode()));
      tree.put(path, new Inode(Kind.FILE));
      return true;
    }

    private boolean addSymlink() {
      String path = join(parentDir(), name(new String[] {"l", "link", "current"}));
      emit(FsTree.symlink(path, symlinkTarget(path)));
      tree.put(path, new Inode(Kind.SYMLINK));
      return true;
    }

    private boolean addHardLink() {
      String existing = pick(p -> tree.get(p).kind == Kind.FILE);
      if (existing == null) {
        return false;
      }
      // sometimes a new name, sometimes over an existing non-directory (tar replaces it)
      String path = rnd.nextInt(4) == 0 ? pick(p -> tree.get(p).kind != Kind.DIR && !p.equals(existing)) : null;
      if (path == null) {
        path = join(parentDir(), name(new String[] {"h", "hardlink"}));
      }
      emit(FsTree.link(path, existing));
      tree.put(path, tree.get(existing));
      return true;
    }

    private boolean addFifo() {
      String path = join(parentDir(), name(new String[] {"fifo", "p"}));
      emit(FsTree.fifo(path, rnd.nextBoolean() ? 0600 : 0644));
      tree.put(path, new Inode(Kind.FIFO));
      return true;
    }

    private boolean addCharDevice() {
      int[] dev = CHAR_DEVICES[rnd.nextInt(CHAR_DEVICES.length)];
      String path = join(parentDir(), name(new String[] {"null", "tty", "c"}));
      emit(FsTree.chardev(path, dev[0], dev[1], rnd.nextBoolean() ? 0666 : 0620));
      tree.put(path, new Inode(Kind.CHARDEV));
      return true;
    }

    // --- changes

    private boolean modifyContent() {
      String path = pick(p -> tree.get(p).kind == Kind.FILE);
      if (path == null) {
        return false;
      }
      emit(FsTree.file(path, content(), fileMode()));
      tree.put(path, new Inode(Kind.FILE));
      return true;
    }

    private boolean chmod() {
      String path = pick(p -> tree.get(p).kind == Kind.FILE || tree.get(p).kind == Kind.DIR);
      if (path == null) {
        return false;
      }
      emit(FsTree.chmod(path, tree.get(path).kind == Kind.DIR ? dirMode() : fileMode()));
      return true;
    }

    private boolean chown() {
      String path = pick(p -> true);
      if (path == null) {
        return false;
      }
      emit(FsTree.chown(path, IDS[rnd.nextInt(IDS.length)], IDS[rnd.nextInt(IDS.length)]));
      return true;
    }

    private boolean retargetSymlink() {
      // retarget a symlink, or (when there is none) turn a file into one
      String path = pick(p -> tree.get(p).kind == Kind.SYMLINK);
      if (path == null) {
        path = pick(p -> tree.get(p).kind == Kind.FILE);
      }
      if (path == null) {
        return false;
      }
      emit(FsTree.symlink(path, symlinkTarget(path)));
      tree.put(path, new Inode(Kind.SYMLINK));
      return true;
    }

    /** user.* xattrs are only allowed on regular files and directories. */
    private boolean setXattr() {
      String path = pick(p -> tree.get(p).kind == Kind.FILE || tree.get(p).kind == Kind.DIR);
      if (path == null) {
        return false;
      }
      TreeSet<String> names = tree.get(path).xattrs;
      String name;
      if (!names.isEmpty() && (names.size() >= MAX_XATTRS || rnd.nextBoolean())) {
        name = List.copyOf(names).get(rnd.nextInt(names.size()));
      } else {
        name = XATTR_NAMES[rnd.nextInt(XATTR_NAMES.length)];
      }
      emit(FsTree.xattr(path, name, printable(1 + rnd.nextInt(24))));
      names.add(name);
      return true;
    }

    private boolean removeXattr() {
      String path = pick(p -> !tree.get(p).xattrs.isEmpty());
      if (path == null) {
        return false;
      }
      TreeSet<String> names = tree.get(path).xattrs;
      String name = List.copyOf(names).get(rnd.nextInt(names.size()));
      emit(FsTree.removeXattr(path, name));
      names.remove(name);
      return true;
    }

    // --- removals and replacements

    private boolean deleteNonDir() {
      String path = pick(p -> tree.get(p).kind != Kind.DIR);
      if (path == null || tree.size() <= MIN_ENTRIES) {
        return false;
      }
      emit(FsTree.remove(path));
      tree.remove(path);
      return true;
    }

    private boolean deleteDir() {
      String path = pick(p -> tree.get(p).kind == Kind.DIR && tree.size() - subtree(p).size() >= MIN_ENTRIES);
      if (path == null) {
        return false;
      }
      emit(FsTree.remove(path));
      subtree(path).forEach(tree::remove);
      return true;
    }

    private boolean nonDirToDir() {
      String path = pick(p -> tree.get(p).kind != Kind.DIR && depth(p) < MAX_DEPTH);
      if (path == null) {
        return false;
      }
      emit(FsTree.remove(path));
      emit(FsTree.dir(path, dirMode()));
      tree.put(path, new Inode(Kind.DIR));
      if (rnd.nextBoolean()) {
        addFileIn(path);
      }
      return true;
    }

    private boolean dirToFile() {
      String path = pick(p -> tree.get(p).kind == Kind.DIR && tree.size() - subtree(p).size() + 1 >= MIN_ENTRIES);
      if (path == null) {
        return false;
      }
      emit(FsTree.remove(path));
      subtree(path).forEach(tree::remove);
      emit(FsTree.file(path, content(), fileMode()));
      tree.put(path, new Inode(Kind.FILE));
      return true;
    }

    // --- helpers

    private void emit(FsOp op) {
      out.add(op);
    }

    /** A uniformly chosen path matching the filter, or null; iteration order is sorted, so deterministic. */
    private String pick(Predicate<String> filter) {
      List<String> matches = tree.keySet().stream().filter(filter).toList();
      return matches.isEmpty() ? null : matches.get(rnd.nextInt(matches.size()));
    }

    /** The path and everything beneath it. */
    private List<String> subtree(String path) {
      List<String> all = new ArrayList<>();
      all.add(path);
      all.addAll(tree.subMap(path + "/", path + "0").keySet());
      return all;
    }

    private String parentDir() {
      List<String> dirs = new ArrayList<>();
      dirs.add("");
      tree.forEach((p, inode) -> {
        if (inode.kind == Kind.DIR && depth(p) < MAX_DEPTH) {
          dirs.add(p);
        }
      });
      return dirs.get(rnd.nextInt(dirs.size()));
    }

    private static int depth(String path) {
      return (int) path.chars().filter(c -> c == '/').count() + 1;
    }

    private static String join(String parent, String name) {
      return parent.isEmpty() ? name : parent + "/" + name;
    }

    /** Unique thanks to the counter; now and then a name tar or a path parser must take care with. */
    private String name(String[] words) {
      String base = words[rnd.nextInt(words.length)] + (++counter);
      return switch (rnd.nextInt(30)) {
        case 0, 1 -> base + " with space";
        case 2 -> "." + base;
        case 3 -> base + (UNICODE_NAMES ? UNICODE_SUFFIX : "-ascii");
        case 4 -> base + "-" + "x".repeat(110);
        default -> base;
      };
    }

    private String symlinkTarget(String linkPath) {
      String parent = linkPath.contains("/") ? linkPath.substring(0, linkPath.lastIndexOf('/')) : "";
      int r = rnd.nextInt(100);
      if (r < 40 && !tree.isEmpty()) {
        String to = pick(p -> true);
        String rel = Path.of(parent).relativize(Path.of(to)).toString();
        return rel.isEmpty() ? "." : rel;
      } else if (r < 55 && !tree.isEmpty()) {
        return "/" + pick(p -> true);
      } else if (r < 70) {
        return "missing-" + (++counter);
      } else if (r < 80) {
        // climbs above the root: an applier must not resolve it against the host
        return "../".repeat(depth(linkPath) + 1) + "etc/passwd";
      } else if (r < 90) {
        return rnd.nextBoolean() ? "." : "..";
      }
      return "/usr/bin/env";
    }

    private int fileMode() {
      int[] modes = options.root() ? ROOT_FILE_MODES : USER_FILE_MODES;
      return modes[rnd.nextInt(modes.length)];
    }

    private int dirMode() {
      int[] modes = options.root() ? ROOT_DIR_MODES : USER_DIR_MODES;
      return modes[rnd.nextInt(modes.length)];
    }

    private byte[] content() {
      int r = rnd.nextInt(100);
      if (r < 10) {
        return new byte[0];
      } else if (r < 85) {
        return printable(1 + rnd.nextInt(64));
      }
      byte[] b = new byte[1 + rnd.nextInt(64 * 1024)];
      rnd.nextBytes(b);
      return b;
    }

    private byte[] printable(int n) {
      byte[] b = new byte[n];
      for (int i = 0; i < n; i++) {
        b[i] = (byte) ('a' + rnd.nextInt(26));
      }
      return b;
    }
  }
}
