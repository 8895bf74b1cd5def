package dev.lamina.content;

/** Well-known content labels (containerd's names, so tools that read them interoperate). */
public final class Labels {
  private Labels() {}

  /** On a compressed layer blob: the digest of its uncompressed tar, its diff ID. */
  public static final String UNCOMPRESSED = "containerd.io/uncompressed";

  /** Longest key plus value, in bytes, as containerd's labels.Validate allows. */
  public static final int MAX_SIZE = 4096;
}
