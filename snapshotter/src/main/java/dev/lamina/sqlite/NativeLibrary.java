package dev.lamina.sqlite;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sqlite.util.OSInfo;

/**
 * sqlite-jdbc's native library, extracted once per content into {@code <tmpdir>/lamina-<uid>/}
 * and loaded from there by every lamina process.
 *
 * <p>Left to itself, sqlite-jdbc copies the library into the temporary directory under a random
 * name in every process and deletes it at a clean exit only, so each killed daemon or CLI leaves
 * another megabyte behind. A content-named file is shared instead: it is written to a temporary
 * name and renamed into place, so a concurrent start never loads a half-written copy.
 */
public final class NativeLibrary {
  private static final Logger LOG = LoggerFactory.getLogger(NativeLibrary.class);
  static final String PATH_PROPERTY = "org.sqlite.lib.path";
  static final String NAME_PROPERTY = "org.sqlite.lib.name";
  private static final Set<PosixFilePermission> PRIVATE_DIR = PosixFilePermissions.fromString("rwx------");
  private static boolean prepared;

  private NativeLibrary() {}

  /**
   * Points sqlite-jdbc at the shared copy, extracting it first when missing; call before the first
   * connection. Does nothing when the library path is already configured, and leaves sqlite-jdbc
   * to its own extraction when the shared directory cannot be used safely.
   */
  public static synchronized void prepare() {
    if (prepared || System.getProperty(PATH_PROPERTY) != null) {
      prepared = true;
      return;
    }
    prepared = true;
    String resource = "/org/sqlite/native/" + OSInfo.getNativeLibFolderPathForCurrentOS() + "/libsqlitejdbc.so";
    try {
      byte[] library;
      try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
        if (in == null) {
          return; // no bundled library for this platform: sqlite-jdbc searches java.library.path
        }
        library = in.readAllBytes();
      }
      Path dir = privateDir(Path.of(System.getProperty("java.io.tmpdir")));
      String name = "sqlite-" + HexFormat.of().formatHex(sha256(library), 0, 12) + "-libsqlitejdbc.so";
      Path file = dir.resolve(name);
      if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) || Files.size(file) != library.length) {
        Path partial = Files.createTempFile(dir, name, ".partial");
        try {
          Files.write(partial, library);
          moveIntoPlace(partial, file);
        } finally {
          Files.deleteIfExists(partial);
        }
      }
      System.setProperty(PATH_PROPERTY, dir.toString());
      System.setProperty(NAME_PROPERTY, name);
    } catch (IOException | RuntimeException e) {
      LOG.debug("sqlite's native library not shared ({}); sqlite-jdbc extracts its own copy", e.toString());
    }
  }

  /** {@code <tmp>/lamina-<uid>}, mode 0700, refusing one that another user owns or can write. */
  static Path privateDir(Path tmp) throws IOException {
    String uid = String.valueOf(new com.sun.security.auth.module.UnixSystem().getUid());
    Path dir = tmp.resolve("lamina-" + uid);
    try {
      Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE_DIR));
    } catch (java.nio.file.FileAlreadyExistsException e) {
      // checked below
    }
    PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    Object owner = Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    if (!a.isDirectory() || !uid.equals(String.valueOf(owner)) || !a.permissions().equals(PRIVATE_DIR)) {
      throw new IOException(dir + " is not a private directory of uid " + uid);
    }
    return dir;
  }

  private static void moveIntoPlace(Path partial, Path file) throws IOException {
    try {
      Files.move(partial, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static byte[] sha256(byte[] b) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(b);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
