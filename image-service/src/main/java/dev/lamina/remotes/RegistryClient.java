package dev.lamina.remotes;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageConfig;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.Index;
import dev.lamina.oci.Limits;
import dev.lamina.oci.Manifest;
import dev.lamina.oci.ManifestDocument;
import dev.lamina.oci.Manifests;
import dev.lamina.oci.Platform;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.remotes.hosts.RegistryHost;
import dev.lamina.remotes.hosts.RegistryHost.Capability;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The registry client: resolves references, fetches manifests and blobs from OCI / Docker registries
 * over {@link java.net.http.HttpClient}. Each call tries the registry's hosts in order (the mirrors of
 * its {@code hosts.toml}, then the registry itself) and fails with the last host's error, earlier
 * hosts' errors suppressed. Thread-safe; connections, TLS setups and bearer tokens are shared by
 * every client derived with {@link #withCredentials}.
 *
 * <p>Errors are {@link LaminaException}s: NOT_FOUND (manifest or blob unknown), UNAUTHENTICATED,
 * PERMISSION_DENIED, UNAVAILABLE (unreachable, 429/5xx after retries, stalled), DATA_LOSS (digest or
 * size mismatch, truncation), INVALID_ARGUMENT (malformed reference, manifest or configuration),
 * NOT_IMPLEMENTED (Docker schema 1).
 */
public final class RegistryClient {
  private static final Logger LOG = LoggerFactory.getLogger(RegistryClient.class);

  private final RegistryOptions options;
  private final RegistryEndpointCaller caller;
  private final Authenticator authenticator;
  private final ManifestResolver resolver;
  private final Credentials credentials;

  public RegistryClient(RegistryOptions options) {
    this.options = Objects.requireNonNull(options, "options");
    Transport transport = new Transport(options);
    TokenFetcher tokens = new TokenFetcher(options);
    this.authenticator = new Authenticator(tokens, options);
    this.caller = new RegistryEndpointCaller(transport, authenticator, options);
    tokens.setCaller(caller);
    this.resolver = new ManifestResolver(caller, options);
    this.credentials = Credentials.anonymous();
  }

  private RegistryClient(RegistryClient shared, Credentials credentials) {
    this.options = shared.options;
    this.caller = shared.caller;
    this.authenticator = shared.authenticator;
    this.resolver = shared.resolver;
    this.credentials = credentials;
  }

  /** A client with the defaults of {@link RegistryOptions#defaults()}. */
  public static RegistryClient create() {
    return new RegistryClient(RegistryOptions.defaults());
  }

  /**
   * A client that authenticates with {@code credentials} (a CRI {@code AuthConfig}) and shares
   * everything else with this one. Tokens are cached per credentials, never shared across them.
   */
  public RegistryClient withCredentials(Credentials credentials) {
    return new RegistryClient(this, credentials == null ? Credentials.anonymous() : credentials);
  }

  public RegistryOptions options() {
    return options;
  }

  /** The hosts tried for {@code ref}'s registry, in order. */
  public List<RegistryHost> hosts(ImageRef ref) throws LaminaException {
    return options.hosts().hosts(ref.domain());
  }

  /**
   * Resolves a reference to the descriptor of its manifest or index (HEAD, else GET). A tag uses the
   * hosts that may {@code resolve}; a digest also those that may only {@code pull}.
   */
  public Resolved resolve(ImageRef ref) throws LaminaException {
    Capability cap = ref.digest() != null ? Capability.PULL : Capability.RESOLVE;
    Descriptor d =
        onHosts(ref, cap, "resolve " + ref,
            (host, creds) -> resolver.resolve(host, ref, creds, query(host, ref)));
    return new Resolved(ref, ref.toString(), d);
  }

  /**
   * Fetches a manifest or index by digest and checks it against the descriptor's size and digest.
   *
   * @param repo the repository (its tag or digest is ignored)
   * @throws LaminaException DATA_LOSS on a size or digest mismatch
   */
  public byte[] fetchManifest(ImageRef repo, Descriptor manifest) throws LaminaException {
    if (manifest.size() > options.maxManifestBytes()) {
      throw LaminaException.invalidArgument("manifest " + manifest.digest() + " of " + repo.name()
          + " is " + manifest.size() + " bytes, more than the limit of " + options.maxManifestBytes());
    }
    String ref = manifest.digest().toString();
    return onHosts(repo, Capability.PULL, "fetch manifest " + ref, (host, creds) -> {
      ManifestPuller.Pulled p =
          caller.call(host, repo.pullScope(), creds,
              new ManifestPuller(repo, ref, manifest.mediaType(), query(host, repo),
                  options.maxManifestBytes(), manifest.size()));
      byte[] bytes = p.bytes();
      var got = ManifestResolver.digestOf(manifest.digest().algorithm(), bytes);
      if (!got.equals(manifest.digest())) {
        throw LaminaException.dataLoss("manifest " + ref + " of " + repo.name() + ": digest mismatch: "
            + host.authority() + " sent content whose digest is " + got);
      }
      return bytes;
    });
  }

  /** Fetches and parses a manifest or index. */
  public ManifestDocument fetchManifestDocument(ImageRef repo, Descriptor manifest)
      throws LaminaException {
    return Manifests.parse(manifest, fetchManifest(repo, manifest));
  }

  /** Receives each manifest and index fetched on the way to a platform's manifest. */
  @FunctionalInterface
  public interface ManifestSink {
    void accept(Descriptor descriptor, byte[] bytes) throws IOException;
  }

  /** {@link #selectPlatform(ImageRef, Descriptor, Platform.Matcher, ManifestSink)} for this node. */
  public Manifest selectPlatform(ImageRef repo, Descriptor manifest) throws LaminaException {
    return selectPlatform(repo, manifest, Platform.current().matcher(), (d, b) -> { });
  }

  /**
   * Fetches {@code manifest}; when it is an index, narrows it to the entry {@code matcher} ranks best
   * (nested indexes too) and returns that image manifest, whose descriptor carries the entry's
   * platform. A plain manifest is returned as it is: its platform is in its config ({@link
   * ImageConfig#platform()}).
   *
   * @param sink gets every manifest and index fetched, verified, for the content store
   * @throws LaminaException NOT_FOUND when the index has no entry for the platform
   */
  public Manifest selectPlatform(
      ImageRef repo, Descriptor manifest, Platform.Matcher matcher, ManifestSink sink)
      throws LaminaException {
    Descriptor current = manifest;
    for (int depth = 0; depth <= Limits.MAX_INDEX_DEPTH; depth++) {
      byte[] bytes = fetchManifest(repo, current);
      ManifestDocument doc = Manifests.parse(current, bytes);
      try {
        sink.accept(doc.descriptor(), bytes);
      } catch (LaminaException e) {
        throw e;
      } catch (IOException e) {
        throw new LaminaException(ErrorKind.INTERNAL, "storing manifest " + current.digest() + ": " + e, e);
      }
      if (doc instanceof Manifest m) {
        return m;
      }
      current = ((Index) doc).require(matcher, repo.name());
    }
    throw LaminaException.invalidArgument(
        "index " + manifest.digest() + " of " + repo.name() + " nests more than " + Limits.MAX_INDEX_DEPTH + " deep");
  }

  /**
   * The whole blob, verified: at its end the stream fails DATA_LOSS unless its size and digest are
   * the descriptor's. Redirects to blob storage are followed without the registry's {@code
   * Authorization}; a body longer or shorter than the descriptor's size is DATA_LOSS; a connection
   * that breaks is resumed (at most {@code maxResumes} times) then UNAVAILABLE; no bytes for the
   * stall timeout is UNAVAILABLE.
   */
  public InputStream fetchBlob(ImageRef repo, Descriptor blob) throws LaminaException {
    return fetchBlob(repo, blob, 0, blob.digest().newMessageDigest());
  }

  /**
   * The rest of a blob from {@code offset} on ({@code Range}), as {@link #fetchBlob(ImageRef,
   * Descriptor)}, verified as a whole: {@code prefix} is the hash of the {@code offset} bytes the
   * caller already holds (a copy the stream goes on with).
   */
  public InputStream fetchBlob(ImageRef repo, Descriptor blob, long offset, MessageDigest prefix)
      throws LaminaException {
    if (offset < 0 || offset > blob.size()) {
      throw LaminaException.invalidArgument("blob " + blob.digest() + ": offset " + offset
          + " outside its " + blob.size() + " bytes");
    }
    String what = "blob " + blob.digest() + " of " + repo.name();
    InputStream body = offset == blob.size() ? InputStream.nullInputStream()
        : onHosts(repo, Capability.PULL, "fetch " + what, (host, creds) -> {
          String q = query(host, repo);
          InputStream first = caller.call(host, repo.pullScope(), creds, new BlobPuller(repo, blob, offset, q));
          return new BlobInputStream(blob, what, first, offset,
              position -> caller.call(host, repo.pullScope(), creds, new BlobPuller(repo, blob, position, q)),
              options.maxResumes());
        });
    return new VerifyingInputStream(body, blob.digest(), blob.size(), prefix, offset);
  }

  /** A whole blob in memory, verified; for configs (at most {@code maxBlobBytes}). */
  public byte[] readBlob(ImageRef repo, Descriptor blob) throws LaminaException {
    if (blob.size() > options.maxBlobBytes()) {
      throw LaminaException.invalidArgument("blob " + blob.digest() + " of " + repo.name() + " is "
          + blob.size() + " bytes, more than the in-memory limit of " + options.maxBlobBytes());
    }
    try (InputStream in = fetchBlob(repo, blob)) {
      return in.readAllBytes();
    } catch (LaminaException e) {
      throw e;
    } catch (IOException e) {
      throw new LaminaException(ErrorKind.UNAVAILABLE, "reading blob " + blob.digest() + ": " + e, e);
    }
  }

  /** The image config of a manifest, fetched, verified and parsed. */
  public ImageConfig fetchConfig(ImageRef repo, Manifest manifest) throws LaminaException {
    return ImageConfig.parse(manifest.config().digest(), readBlob(repo, manifest.config()));
  }

  /**
   * Checks that these credentials may pull from {@code repo}: {@code GET /v2/} with the auth dance
   * for the repository's pull scope, on the first host that may resolve.
   */
  public void authenticate(ImageRef repo) throws LaminaException {
    onHosts(repo, Capability.RESOLVE, "check access to " + repo.domain(),
        (host, creds) -> caller.call(host, repo.pullScope(), creds,
            new AuthenticationMethodRetriever(host.authority(), query(host, repo))));
  }

  /** Forgets cached tokens and learned challenges. */
  public void clearAuthCache() {
    authenticator.clear();
  }

  private interface HostCall<T> {
    T apply(RegistryHost host, Credentials creds) throws LaminaException;
  }

  private <T> T onHosts(ImageRef ref, Capability cap, String what, HostCall<T> call)
      throws LaminaException {
    List<RegistryHost> hosts = options.hosts().hosts(ref.domain()).stream().filter(h -> h.can(cap)).toList();
    if (hosts.isEmpty()) {
      throw LaminaException.failedPrecondition(
          what + ": no host of " + ref.domain() + " is configured with the " 
              + cap.name().toLowerCase(java.util.Locale.ROOT) + " capability");
    }
    LaminaException last = null;
    for (RegistryHost host : hosts) {
      Credentials creds =
          credentials.appliesTo(host.authority(), ref.domain()) ? credentials : Credentials.anonymous();
      try {
        return call.apply(host, creds);
      } catch (LaminaException e) {
        if (last != null) {
          e.addSuppressed(last);
        }
        last = e;
        if (hosts.size() > 1) {
          LOG.info("{}: {} failed: {}", what, host, e.getMessage());
        }
      }
    }
    throw last;
  }

  /** Mirrors get {@code ?ns=<registry>}, as containerd sends, so one mirror can serve many. */
  private static String query(RegistryHost host, ImageRef ref) {
    return host.server() ? "" : "?ns=" + URLEncoder.encode(ref.domain(), StandardCharsets.UTF_8);
  }
}
