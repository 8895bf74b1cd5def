package dev.lamina.remotes;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageRef;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code GET /v2/<name>/blobs/<digest>}, with {@code Range: bytes=<offset>-} to resume. Checks that
 * what the registry announces fits the descriptor and hands on the body positioned at {@code
 * offset}; a registry that ignores the range (200) has the first {@code offset} bytes skipped.
 */
final class BlobPuller implements RegistryEndpoint<InputStream> {
  private static final Pattern CONTENT_RANGE =
      Pattern.compile("bytes\\s+(\\d+)-(\\d+)/(\\d+|\\*)", Pattern.CASE_INSENSITIVE);

  private final ImageRef repo;
  private final Descriptor blob;
  private final long offset;
  private final String query;

  BlobPuller(ImageRef repo, Descriptor blob, long offset, String query) {
    this.repo = repo;
    this.blob = blob;
    this.offset = offset;
    this.query = query;
  }

  @Override
  public String method() {
    return "GET";
  }

  @Override
  public String route() {
    return repo.path() + "/blobs/" + blob.digest() + query;
  }

  @Override
  public Map<String, List<String>> headers() {
    return offset > 0 ? Map.of("Range", List.of("bytes=" + offset + "-")) : Map.of();
  }

  @Override
  public InputStream handleResponse(Response r) throws IOException {
    String what = "blob " + blob.digest() + " of " + repo.name();
    long length = r.contentLength();
    if (r.status() == 206) {
      if (offset == 0) {
        // Some stores answer every request with ranges; accept one that starts at 0 and is whole.
        checkRange(r, what, 0);
      } else {
        checkRange(r, what, offset);
      }
      if (length >= 0 && length != blob.size() - offset) {
        throw LaminaException.dataLoss(what + ": the registry announced " + length
            + " bytes from offset " + offset + ", the descriptor says " + (blob.size() - offset));
      }
      return r.body();
    }
    if (r.status() != 200) {
      throw LaminaException.invalidArgument(what + ": unexpected status " + r.status());
    }
    if (length >= 0 && length != blob.size()) {
      throw LaminaException.dataLoss(
          what + ": the registry announced " + length + " bytes, the descriptor says " + blob.size());
    }
    InputStream body = r.body();
    if (offset > 0) {
      // The range was ignored: skip what the caller has.
      long skipped = 0;
      byte[] buf = new byte[64 * 1024];
      while (skipped < offset) {
        int n = body.read(buf, 0, (int) Math.min(buf.length, offset - skipped));
        if (n < 0) {
          throw LaminaException.dataLoss(
              what + ": truncated at " + skipped + " of " + blob.size() + " bytes");
        }
        skipped += n;
      }
    }
    return body;
  }

  private void checkRange(Response r, String what, long start) throws LaminaException {
    Matcher m = CONTENT_RANGE.matcher(r.header("Content-Range").trim());
    if (!m.matches()) {
      throw LaminaException.dataLoss(what + ": partial content without a valid Content-Range");
    }
    long first = Long.parseLong(m.group(1));
    long last = Long.parseLong(m.group(2));
    if (first != start || last != blob.size() - 1
        || (!m.group(3).equals("*") && Long.parseLong(m.group(3)) != blob.size())) {
      throw LaminaException.dataLoss(what + ": asked for bytes " + start + "-, the registry sent "
          + m.group(0) + " of a " + blob.size() + "-byte blob");
    }
  }

  @Override
  public String description() {
    return "fetch blob " + blob.digest() + " of " + repo.name()
        + (offset > 0 ? " from offset " + offset : "");
  }

  @Override
  public String notFound() {
    return "blob unknown: " + blob.digest() + " in " + repo.name();
  }
}
