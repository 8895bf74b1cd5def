package dev.lamina.remotes;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.ManifestDocument;
import dev.lamina.oci.Manifests;
import dev.lamina.oci.MediaTypes;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.RegistryHost;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;

/**
 * Resolves a reference on one host: {@code HEAD /v2/<name>/manifests/<reference>} and, when the
 * answer lacks the digest, media type or size (or the registry refuses HEAD), a {@code GET} whose
 * body is hashed. A digest reference must resolve to that digest.
 */
final class ManifestResolver {
  private final RegistryEndpointCaller caller;
  private final RegistryOptions options;

  ManifestResolver(RegistryEndpointCaller caller, RegistryOptions options) {
    this.caller = caller;
    this.options = options;
  }

  /** The HEAD endpoint; a null result means "ask again with GET". */
  private static final class Head implements RegistryEndpoint<Descriptor> {
    private final ImageRef ref;
    private final String query;

    Head(ImageRef ref, String query) {
      this.ref = ref;
      this.query = query;
    }

    @Override
    public String method() {
      return "HEAD";
    }

    @Override
    public String route() {
      return ref.path() + "/manifests/" + ref.reference() + query;
    }

    @Override
    public Map<String, List<String>> headers() {
      return Map.of("Accept", List.of(ManifestPuller.accept("")));
    }

    @Override
    public Descriptor handleResponse(Response r) throws LaminaException {
      try (r) {
        String type = MediaTypes.base(r.header("Content-Type"));
        if (MediaTypes.isSchema1(type)) {
          throw Manifests.schema1("manifest " + ref);
        }
        Digest digest = ManifestPuller.headerDigest(r);
        long size = r.contentLength();
        if (ref.digest() != null) {
          if (digest != null && !digest.equals(ref.digest())) {
            throw LaminaException.dataLoss(
                "resolve " + ref + ": " + r.uri().getRawAuthority() + " answered digest " + digest);
          }
          digest = ref.digest();
        }
        if (digest == null || size < 0 || !MediaTypes.isManifestOrIndex(type)) {
          return null;
        }
        return Descriptor.of(type, digest, size);
      }
    }

    @Override
    public String description() {
      return "resolve " + ref;
    }

    @Override
    public String notFound() {
      return "manifest unknown: " + ref;
    }
  }

  Descriptor resolve(RegistryHost host, ImageRef ref, Credentials creds, String query)
      throws LaminaException {
    Descriptor d = null;
    try {
      d = caller.call(host, ref.pullScope(), creds, new Head(ref, query));
    } catch (LaminaException e) {
      // Some registries refuse HEAD (405, 400); GET decides. Anything else stands.
      if (e.kind() != ErrorKind.INVALID_ARGUMENT || e.getMessage().contains("schema 1")) {
        throw e;
      }
    }
    if (d != null) {
      return d;
    }
    ManifestPuller.Pulled p =
        caller.call(host, ref.pullScope(), creds,
            new ManifestPuller(ref, ref.reference(), "", query, options.maxManifestBytes(), -1));
    Digest want = ref.digest();
    Digest computed = digestOf(want == null ? "sha256" : want.algorithm(), p.bytes());
    if (want != null && !computed.equals(want)) {
      throw LaminaException.dataLoss(
          "resolve " + ref + ": " + host.authority() + " served a manifest whose digest is " + computed);
    }
    Digest header = p.headerDigest();
    if (header != null && header.algorithm().equals(computed.algorithm()) && !header.equals(computed)) {
      throw LaminaException.dataLoss(
          "resolve " + ref + ": " + host.authority() + " announced digest " + header
              + " for a manifest whose digest is " + computed);
    }
    String type = p.contentType();
    if (MediaTypes.isSchema1(type)) {
      throw Manifests.schema1("manifest " + ref);
    }
    Descriptor probe = Descriptor.of(MediaTypes.isManifestOrIndex(type) ? type : "", computed, p.bytes().length);
    // Parsing settles the media type (from the body when the header is generic) and rejects schema 1.
    ManifestDocument doc = Manifests.parse(probe, p.bytes());
    return doc.descriptor();
  }

  static Digest digestOf(String algorithm, byte[] data) {
    Digest template = algorithm.equals("sha512")
        ? new Digest("sha512", "0".repeat(128))
        : new Digest("sha256", "0".repeat(64));
    MessageDigest md = template.newMessageDigest();
    return new Digest(algorithm, java.util.HexFormat.of().formatHex(md.digest(data)));
  }
}
