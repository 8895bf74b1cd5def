package dev.lamina.containerd;

import dev.lamina.content.Provider;
import dev.lamina.images.FilesystemUsage;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageRecord;
import dev.lamina.images.PullListener;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.sizes.TaskEvents;
import dev.lamina.snapshots.Snapshotter;
import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An image manager whose images containerd also has: each pull is registered in containerd
 * before the pull returns, when containerd is reachable (kubelet's next call, CreateContainer to
 * containerd, needs the image there), and each remove removes containerd's records too. Once
 * containerd has been down for {@link ContainerdLink#DOWN_WAITS}, pulls and removes return at once
 * and the {@link ContainerdLink} catches up when it is back.
 */
public final class RegisteringImageManager implements ImageManager, Closeable, RegistrationListener.Source,
    TaskEvents.Source {
  private static final Logger LOG = LoggerFactory.getLogger(RegisteringImageManager.class);
  /** How long a pull waits for its registration before it returns anyway. */
  static final Duration REGISTRATION_WAIT = Duration.ofSeconds(10);

  private final ImageManager images;
  private final ContainerdLink link;

  private RegisteringImageManager(ImageManager images, ContainerdLink link) {
    this.images = images;
    this.link = link;
  }

  /**
   * Wraps {@code images}, whose layers are committed in {@code snapshotter} and whose documents
   * are in {@code content}, and starts registering with containerd at once.
   */
  public static RegisteringImageManager start(ImageManager images, Snapshotter snapshotter, Provider content,
      ContainerdSettings settings) {
    ContainerdClient client = ContainerdClient.connect(settings.address(), settings.namespace());
    ContainerdLink link = new ContainerdLink(client, new Registrar(client, settings.snapshotter(), snapshotter,
        content), images);
    LOG.info("registering images in containerd at unix://{}, namespace {}, snapshotter {}", settings.address(),
        settings.namespace(), settings.snapshotter());
    link.start();
    return new RegisteringImageManager(images, link);
  }

  @Override
  public void listen(RegistrationListener listener) {
    link.listen(listener);
  }

  @Override
  public void listenToTasks(TaskEvents events) {
    link.listenToTasks(events);
  }

  @Override
  public ImageRecord pull(String reference, Credentials credentials, PullListener listener) throws IOException {
    ImageRecord r = images.pull(reference, credentials, listener);
    var registered = link.register(r);
    if (link.awaitsRegistration()) {
      try {
        registered.get(REGISTRATION_WAIT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (ExecutionException e) {
        LOG.warn("pull {}: not registered in containerd yet: {}", reference, e.getCause().toString());
      } catch (TimeoutException e) {
        LOG.warn("pull {}: containerd has not taken the image within {} s; it is registered in the background",
            reference, REGISTRATION_WAIT.toSeconds());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("pull " + reference + " interrupted");
      }
    }
    return r;
  }

  @Override
  public List<ImageRecord> list() throws IOException {
    return images.list();
  }

  @Override
  public Optional<ImageRecord> find(String idOrReference) throws IOException {
    return images.find(idOrReference);
  }

  @Override
  public void remove(String idOrReference) throws IOException {
    Optional<ImageRecord> r = images.find(idOrReference);
    images.remove(idOrReference);
    r.ifPresent(img -> link.unregister(Registrar.names(img)));
  }

  @Override
  public void collectGarbage() throws IOException {
    images.collectGarbage();
  }

  @Override
  public FilesystemUsage usage() throws IOException {
    return images.usage();
  }

  @Override
  public void close() throws IOException {
    link.close();
    if (images instanceof Closeable c) {
      c.close();
    }
  }
}
