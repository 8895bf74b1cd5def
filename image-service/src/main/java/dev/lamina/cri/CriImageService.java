package dev.lamina.cri;

import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.cri.runtime.v1.ImageServiceGrpc;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageRecord;
import dev.lamina.images.PullListener;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageRef;
import dev.lamina.remotes.auth.Credentials;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.Closeable;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.net.http.HttpTimeoutException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The CRI {@code runtime.v1.ImageService} that kubelet ({@code --image-service-endpoint}) and
 * {@code crictl} call, over one {@link ImageManager}. It behaves as containerd's CRI plugin does:
 *
 * <ul>
 *   <li>{@code PullImage} normalizes the reference, pulls with the request's {@code AuthConfig}
 *       (every field, as {@link Credentials}) and answers with the image ID, the digest of its
 *       config ({@code sha256:...}). It runs on a pull thread of its own, so long pulls never hold
 *       the threads that answer kubelet's {@code ImageStatus} calls.
 *   <li>{@code ImageStatus} of an image that is not there is an empty response (no {@code image});
 *       with {@code verbose}, {@code info["info"]} holds JSON: {@code chainID}, {@code imageSpec}
 *       and lamina's {@code chainIDs}, {@code manifestDigest}, {@code pinned}.
 *   <li>{@code RemoveImage} removes the whole image (every tag and digest) named by ID, tag or
 *       digest; an image that is not there is success.
 *   <li>{@code ListImages} and {@code StreamImages} with a filter look up the one image it names,
 *       as CRI-O does (containerd ignores the filter): the result is that image or nothing.
 *   <li>{@code ImageFsInfo} reports one image filesystem and no container filesystems, as
 *       containerd does: kubelet then treats them as one.
 * </ul>
 *
 * <p>Images are named as {@link ImageLookup} describes: full ID, normalized reference, or a unique
 * ID prefix. Text that is no valid reference fails INVALID_ARGUMENT. Errors leave as the gRPC
 * status of their kind, mapped once, by {@link dev.lamina.services.ErrorMappingInterceptor};
 * credentials are never logged nor put in a message.
 */
public final class CriImageService extends ImageServiceGrpc.ImageServiceImplBase implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(CriImageService.class);
  private static final PullListener RESOLUTION_LOG = new PullListener() {
    @Override
    public void resolved(String reference, Digest manifest, List<Descriptor> layers, int committed) {
      LOG.debug("pull {}: resolved to {}, {} of {} layers to fetch", reference, manifest, layers.size() - committed,
          layers.size());
    }
  };
  /** Images per {@code StreamImages} response message. */
  static final int STREAM_BATCH = 1000;

  private final ImageManager images;
  private final ImageLookup lookup;
  private final ExecutorService pulls;
  private final boolean ownsPulls;

  /** Pulls run on daemon threads of this service; {@link #close} stops them. */
  public CriImageService(ImageManager images) {
    this(images, newPullExecutor(), true);
  }

  /**
   * @param pulls where pulls run; the caller keeps ownership (close does not shut it down)
   */
  public CriImageService(ImageManager images, ExecutorService pulls) {
    this(images, pulls, false);
  }

  private CriImageService(ImageManager images, ExecutorService pulls, boolean ownsPulls) {
    this.images = images;
    this.lookup = new ImageLookup(images);
    this.pulls = pulls;
    this.ownsPulls = ownsPulls;
  }

  private static ExecutorService newPullExecutor() {
    AtomicInteger n = new AtomicInteger();
    // Not bounded here: kubelet bounds its parallel pulls (--max-parallel-image-pulls), and the
    // ImageManager joins a pull of a reference already in flight.
    return Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "lamina-pull-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public void listImages(Api.ListImagesRequest req, StreamObserver<Api.ListImagesResponse> out) {
    unary(out, () -> Api.ListImagesResponse.newBuilder().addAllImages(filtered(req.getFilter())).build());
  }

  @Override
  public void streamImages(Api.StreamImagesRequest req, StreamObserver<Api.StreamImagesResponse> out) {
    List<Api.Image> all;
    try {
      all = filtered(req.getFilter());
    } catch (IOException | RuntimeException e) {
      out.onError(e);
      return;
    }
    for (int i = 0; i < all.size(); i += STREAM_BATCH) {
      out.onNext(Api.StreamImagesResponse.newBuilder()
          .addAllImages(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
    }
    out.onCompleted();
  }

  private List<Api.Image> filtered(Api.ImageFilter filter) throws IOException {
    String wanted = filter.getImage().getImage();
    if (wanted.isEmpty()) {
      return images.list().stream().map(CriImages::toCri).toList();
    }
    return lookup.find(wanted).map(CriImages::toCri).stream().toList();
  }

  @Override
  public void imageStatus(Api.ImageStatusRequest req, StreamObserver<Api.ImageStatusResponse> out) {
    unary(out, () -> {
      Optional<ImageRecord> found = lookup.find(req.getImage().getImage());
      if (found.isEmpty()) {
        return Api.ImageStatusResponse.getDefaultInstance();
      }
      Api.ImageStatusResponse.Builder b = Api.ImageStatusResponse.newBuilder().setImage(CriImages.toCri(found.get()));
      if (req.getVerbose()) {
        b.putAllInfo(CriImages.verboseInfo(found.get()));
      }
      return b.build();
    });
  }

  @Override
  public void pullImage(Api.PullImageRequest req, StreamObserver<Api.PullImageResponse> out) {
    if (out instanceof ServerCallStreamObserver<Api.PullImageResponse> call) {
      // kubelet gave up (deadline) or the client went away: the pull goes on (another caller may
      // have joined it, and kubelet will ask again), its answer is dropped.
      call.setOnCancelHandler(() -> LOG.debug("PullImage {} cancelled by the client", req.getImage().getImage()));
    }
    submitPull(req.getImage().getImage(), req.getAuth(), PullListener.NONE, new PullCallback() {
      @Override
      public void pulled(ImageRecord image, boolean alreadyPresent) {
        out.onNext(Api.PullImageResponse.newBuilder().setImageRef(image.id().toString()).build());
        out.onCompleted();
      }

      @Override
      public void failed(Throwable error) {
        out.onError(error);
      }
    });
  }

  /** Where the end of a pull that {@link #submitPull} started goes; called once, from a pull thread or the caller's. */
  interface PullCallback {
    /** @param alreadyPresent the reference named this same image before the pull */
    void pulled(ImageRecord image, boolean alreadyPresent);

    void failed(Throwable error);
  }

  /**
   * Checks a pull request and runs it on a pull thread, as PullImage does; {@code listener} hears
   * its progress. An image ID can only be "pulled" when it is already here.
   */
  void submitPull(String text, Api.AuthConfig auth, PullListener listener, PullCallback done) {
    ImageRef ref;
    Credentials credentials;
    try {
      if (ImageLookup.isFullId(text)) {
        Optional<ImageRecord> here = images.find(ImageLookup.canonicalId(text));
        if (here.isEmpty()) {
          throw LaminaException.invalidArgument("cannot pull image ID \"" + text
              + "\": it is not present, and an ID names no registry; pull a reference (name:tag or name@digest)");
        }
        done.pulled(here.get(), true);
        return;
      }
      if (text.isEmpty()) {
        throw LaminaException.invalidArgument("no image specified");
      }
      ref = ImageRef.parse(text);
      credentials = credentials(auth);
    } catch (IOException | RuntimeException e) {
      done.failed(e);
      return;
    }
    try {
      pulls.execute(() -> {
        ImageRecord image;
        boolean alreadyPresent;
        try {
          Optional<ImageRecord> before = images.find(ref.toString());
          image = pull(ref, credentials, listener);
          alreadyPresent = before.isPresent() && before.get().id().equals(image.id());
        } catch (IOException | RuntimeException e) {
          done.failed(e);
          return;
        }
        done.pulled(image, alreadyPresent);
      });
    } catch (RejectedExecutionException e) {
      done.failed(new LaminaException(ErrorKind.UNAVAILABLE, "lamina is shutting down; pull " + ref + " again"));
    }
  }

  private ImageRecord pull(ImageRef ref, Credentials credentials, PullListener listener) throws IOException {
    long start = System.nanoTime();
    ImageRecord image;
    try {
      image = images.pull(ref.toString(), credentials, PullListener.both(RESOLUTION_LOG, listener));
    } catch (IOException | RuntimeException e) {
      LaminaException failed = pullFailure(ref, credentials, e);
      LOG.info("{}", failed.getMessage());
      throw failed;
    }
    LOG.info("pulled {} as {} in {} ms", ref, image.id(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    return image;
  }

  /** The error of a failed pull, naming the reference, with a hint where one helps. Never names a secret. */
  static LaminaException pullFailure(ImageRef ref, Credentials credentials, Throwable e) {
    ErrorKind kind = kindOf(e);
    String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    String hint = "";
    if (kind == ErrorKind.UNAUTHENTICATED) {
      // The registry client notes a 401 of the registry itself ("no credentials were given", "the
      // registry refused the credentials"); a token server's 401 comes without. Say it once.
      String server = credentials.serverAddress().isEmpty() ? "" : " for " + credentials.serverAddress();
      if (credentials.isAnonymous()) {
        hint = message.contains("no credentials were given")
            ? " (the registry wants some; check the pod's imagePullSecrets)"
            : " (no credentials were given: the registry wants some; check the pod's imagePullSecrets)";
      } else if (message.contains("the registry refused the")) {
        hint = server.isEmpty() ? "" : " (credentials given" + server + ")";
      } else {
        hint = " (the registry refused the credentials given" + server + ")";
      }
    }
    return new LaminaException(kind, "failed to pull image \"" + ref + "\": " + message + hint, e);
  }

  /** The kind of a pull failure: its own, or UNAVAILABLE for a registry that could not be reached. */
  private static ErrorKind kindOf(Throwable e) {
    ErrorKind kind = LaminaException.kindOf(e);
    if (kind != ErrorKind.INTERNAL) {
      return kind;
    }
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c instanceof ConnectException || c instanceof UnknownHostException || c instanceof SocketTimeoutException
          || c instanceof HttpTimeoutException) {
        return ErrorKind.UNAVAILABLE;
      }
    }
    return kind;
  }

  /** Every field of CRI's {@code AuthConfig}; a malformed {@code auth} fails here, before any request. */
  static Credentials credentials(Api.AuthConfig a) throws LaminaException {
    Credentials c = new Credentials(a.getUsername(), a.getPassword(), a.getAuth(), a.getServerAddress(),
        a.getIdentityToken(), a.getRegistryToken());
    if (c.username().isEmpty() && !c.auth().isEmpty()) {
      c.userPass();
    }
    return c;
  }

  @Override
  public void removeImage(Api.RemoveImageRequest req, StreamObserver<Api.RemoveImageResponse> out) {
    unary(out, () -> {
      Optional<ImageRecord> found = lookup.find(req.getImage().getImage());
      if (found.isPresent()) {
        try {
          // By ID: CRI removes the whole image, every tag and digest, whichever name was given.
          images.remove(found.get().id().toString());
          LOG.info("removed image {} {}", found.get().id(), found.get().repoTags());
        } catch (LaminaException e) {
          if (e.kind() != ErrorKind.NOT_FOUND) {
            throw e;
          }
          // removed meanwhile: what was asked for is done
        }
      }
      return Api.RemoveImageResponse.getDefaultInstance();
    });
  }

  @Override
  public void imageFsInfo(Api.ImageFsInfoRequest req, StreamObserver<Api.ImageFsInfoResponse> out) {
    unary(out, () -> Api.ImageFsInfoResponse.newBuilder().addImageFilesystems(CriImages.toCri(images.usage())).build());
  }

  /** Stops the pull threads this service made; pulls in flight are interrupted. */
  @Override
  public void close() {
    if (ownsPulls) {
      pulls.shutdownNow();
    }
  }

  @FunctionalInterface
  private interface Body<T> {
    T run() throws IOException;
  }

  private static <T> void unary(StreamObserver<T> out, Body<T> body) {
    T value;
    try {
      value = body.run();
    } catch (IOException | RuntimeException e) {
      out.onError(e);
      return;
    }
    out.onNext(value);
    out.onCompleted();
  }
}
