package dev.lamina.mount;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** fstab-style options split into mount(2) flags and filesystem data, as containerd's parseMountOptions does. */
record MountOptions(long flags, List<String> data) {
  static final long MS_RDONLY = 1;
  static final long MS_NOSUID = 2;
  static final long MS_NODEV = 4;
  static final long MS_NOEXEC = 8;
  static final long MS_SYNCHRONOUS = 16;
  static final long MS_REMOUNT = 32;
  static final long MS_MANDLOCK = 64;
  static final long MS_DIRSYNC = 128;
  static final long MS_NOATIME = 1024;
  static final long MS_NODIRATIME = 2048;
  static final long MS_BIND = 4096;
  static final long MS_REC = 16384;
  static final long MS_SILENT = 32768;
  static final long MS_UNBINDABLE = 1 << 17;
  static final long MS_PRIVATE = 1 << 18;
  static final long MS_SLAVE = 1 << 19;
  static final long MS_SHARED = 1 << 20;
  static final long MS_RELATIME = 1 << 21;
  static final long MS_STRICTATIME = 1 << 24;
  /** Propagation changes need a call of their own. */
  static final long PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

  private record Flag(boolean clear, long flag) {}

  private static final Map<String, Flag> FLAGS = Map.ofEntries(
      Map.entry("async", new Flag(true, MS_SYNCHRONOUS)),
      Map.entry("atime", new Flag(true, MS_NOATIME)),
      Map.entry("bind", new Flag(false, MS_BIND)),
      Map.entry("defaults", new Flag(false, 0)),
      Map.entry("dev", new Flag(true, MS_NODEV)),
      Map.entry("diratime", new Flag(true, MS_NODIRATIME)),
      Map.entry("dirsync", new Flag(false, MS_DIRSYNC)),
      Map.entry("exec", new Flag(true, MS_NOEXEC)),
      Map.entry("mand", new Flag(false, MS_MANDLOCK)),
      Map.entry("noatime", new Flag(false, MS_NOATIME)),
      Map.entry("nodev", new Flag(false, MS_NODEV)),
      Map.entry("nodiratime", new Flag(false, MS_NODIRATIME)),
      Map.entry("noexec", new Flag(false, MS_NOEXEC)),
      Map.entry("nomand", new Flag(true, MS_MANDLOCK)),
      Map.entry("norelatime", new Flag(true, MS_RELATIME)),
      Map.entry("nostrictatime", new Flag(true, MS_STRICTATIME)),
      Map.entry("nosuid", new Flag(false, MS_NOSUID)),
      Map.entry("rbind", new Flag(false, MS_BIND | MS_REC)),
      Map.entry("relatime", new Flag(false, MS_RELATIME)),
      Map.entry("remount", new Flag(false, MS_REMOUNT)),
      Map.entry("ro", new Flag(false, MS_RDONLY)),
      Map.entry("rw", new Flag(true, MS_RDONLY)),
      Map.entry("strictatime", new Flag(false, MS_STRICTATIME)),
      Map.entry("suid", new Flag(true, MS_NOSUID)),
      Map.entry("sync", new Flag(false, MS_SYNCHRONOUS)),
      Map.entry("private", new Flag(false, MS_PRIVATE)),
      Map.entry("rprivate", new Flag(false, MS_PRIVATE | MS_REC)),
      Map.entry("shared", new Flag(false, MS_SHARED)),
      Map.entry("rshared", new Flag(false, MS_SHARED | MS_REC)),
      Map.entry("slave", new Flag(false, MS_SLAVE)),
      Map.entry("rslave", new Flag(false, MS_SLAVE | MS_REC)),
      Map.entry("unbindable", new Flag(false, MS_UNBINDABLE)),
      Map.entry("runbindable", new Flag(false, MS_UNBINDABLE | MS_REC)));

  MountOptions {
    data = List.copyOf(data);
  }

  /** Options that are not flags are data for the filesystem, in their order. */
  static MountOptions parse(List<String> options) {
    long flags = 0;
    List<String> data = new ArrayList<>();
    for (String o : options) {
      Flag f = FLAGS.get(o);
      if (f != null) {
        flags = f.clear() ? flags & ~f.flag() : flags | f.flag();
      } else {
        data.add(o);
      }
    }
    return new MountOptions(flags, data);
  }

  String dataString() {
    return String.join(",", data);
  }

  boolean has(long flag) {
    return (flags & flag) == flag;
  }
}
