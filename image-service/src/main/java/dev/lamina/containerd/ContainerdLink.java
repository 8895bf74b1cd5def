package dev.lamina.containerd;

import dev.lamina.containerd.events.ImageDelete;
import dev.lamina.containerd.events.TaskExit;
import dev.lamina.containerd.events.TaskStart;
import dev.lamina.containerd.events.v1.Envelope;
import dev.lamina.containerd.events.v1.SubscribeRequest;
import dev.lamina.containerd.tasks.v1.ListTasksRequest;
import dev.lamina.containerd.types.task.Process;
import dev.lamina.digest.Digest;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageRecord;
import dev.lamina.sizes.ContainerKey;
import dev.lamina.sizes.TaskEvents;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps containerd's view of lamina's images in step with lamina's, on a thread of its own so
 * that no CRI call waits on containerd: registration after each pull, removal after each remove,
 * and a full reconcile in both directions at start, after containerd comes back, and every
 * {@link #RECONCILE_EVERY}. While containerd is down, the work waits and is retried with backoff.
 *
 * <p>lamina is the image service, so it is the source of truth for what it pulled: an image
 * record of lamina's that is deleted in containerd ({@code ctr images rm}, crictl pointed at
 * containerd) is registered again as soon as its delete event arrives. An image is removed
 * through lamina's image service.
 *
 * <p>The same event stream carries the namespace's task starts and exits to a {@link TaskEvents}
 * listener, so that the sizes of containers whose task exited are not measured again; the tasks
 * are listed once the stream is open, for containers that exited before it.
 */
public final class ContainerdLink implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(ContainerdLink.class);
  static final Duration RECONCILE_EVERY = Duration.ofMinutes(5);
  static final Duration BACKOFF_FIRST = Duration.ofMillis(500);
  static final Duration BACKOFF_MAX = Duration.ofSeconds(30);
  /**
   * For this long after containerd stopped answering (or never has, since lamina started), pulls
   * still wait for their registration: containerd is starting or restarting, as at boot.
   */
  static final Duration DOWN_WAITS = Duration.ofSeconds(30);
  /**
   * How long after subscribing the tasks are listed: by then containerd has the subscription, so a
   * task that starts after the listing is heard.
   */
  static final Duration TASKS_LISTED_AFTER = Duration.ofSeconds(2);
  private static final String IMAGE_DELETE = "/images/delete";
  private static final String TASK_START = "/tasks/start";
  private static final String TASK_EXIT = "/tasks/exit";

  private final ContainerdClient client;
  private final Registrar registrar;
  private final ImageManager images;
  private final Thread worker;
  private final Thread events;

  // guarded by this
  private boolean reconcileAll = true;
  private final Map<Digest, CompletableFuture<Void>> toRegister = new LinkedHashMap<>();
  private final Set<String> toDelete = new LinkedHashSet<>();
  /** Registrations queued so far: one queued during a failed attempt is retried without backoff. */
  private long queued;
  private boolean closed;
  /** Whether the last call to containerd worked; null before the first. */
  private volatile Boolean reachable;
  /** When calls to containerd began to fail (System.nanoTime), while {@link #reachable} is false. */
  private volatile long unreachableSince;
  private volatile Context.CancellableContext subscription;
  private volatile RegistrationListener listener = RegistrationListener.NONE;
  private volatile TaskEvents tasks = TaskEvents.NONE;

  ContainerdLink(ContainerdClient client, Registrar registrar, ImageManager images) {
    this.client = client;
    this.registrar = registrar;
    this.images = images;
    this.worker = new Thread(this::work, "lamina-containerd-register");
    this.worker.setDaemon(true);
    this.events = new Thread(this::watchEvents, "lamina-containerd-events");
    this.events.setDaemon(true);
  }

  void start() {
    worker.start();
    events.start();
  }

  /**
   * Whether a pull should wait for its registration, so that kubelet's CreateContainer right after
   * it finds the image: unless containerd has been down for longer than {@link #DOWN_WAITS}. A new
   * registration wakes the link at once, so a containerd that is back takes it without backoff.
   */
  boolean awaitsRegistration() {
    return !Boolean.FALSE.equals(reachable) || System.nanoTime() - unreachableSince < DOWN_WAITS.toNanos();
  }

  void listen(RegistrationListener l) {
    listener = l;
  }

  void listenToTasks(TaskEvents t) {
    tasks = t;
  }

  /** Queues the registration of {@code r}; the future completes once it is registered. */
  synchronized CompletableFuture<Void> register(ImageRecord r) {
    queued++;
    CompletableFuture<Void> f = toRegister.computeIfAbsent(r.id(), id -> {
      long queued = System.nanoTime();
      CompletableFuture<Void> n = new CompletableFuture<>();
      n.whenComplete((ok, t) -> {
        if (t == null) {
          listener.registered(Duration.ofNanos(System.nanoTime() - queued));
        } else {
          listener.failed();
        }
      });
      return n;
    });
    notifyAll();
    return f;
  }

  /** Queues the deletion of containerd's records of these names. */
  synchronized void unregister(Set<String> names) {
    toDelete.addAll(names);
    notifyAll();
  }

  private void work() {
    Duration backoff = BACKOFF_FIRST;
    long nextReconcile = System.nanoTime() + RECONCILE_EVERY.toNanos();
    while (true) {
      boolean all;
      List<String> deletes;
      List<Map.Entry<Digest, CompletableFuture<Void>>> registers;
      long seen;
      synchronized (this) {
        while (!closed && !reconcileAll && toRegister.isEmpty() && toDelete.isEmpty()) {
          long wait = (nextReconcile - System.nanoTime()) / 1_000_000;
          if (wait <= 0) {
            reconcileAll = true;
            break;
          }
          try {
            wait(wait);
          } catch (InterruptedException e) {
            return;
          }
        }
        if (closed) {
          return;
        }
        all = reconcileAll;
        seen = queued;
        deletes = new ArrayList<>(toDelete);
        registers = new ArrayList<>(toRegister.entrySet());
      }
      try {
        if (all) {
          reconcile();
          nextReconcile = System.nanoTime() + RECONCILE_EVERY.toNanos();
        } else {
          registrar.unregister(deletes);
          if (!deletes.isEmpty()) {
            listener.unregistered(deletes.size());
          }
          for (Map.Entry<Digest, CompletableFuture<Void>> e : registers) {
            registerOne(e.getKey());
          }
        }
        synchronized (this) {
          if (all) {
            // The reconcile covered the images queued before it began (their records were written
            // before they were queued); one queued meanwhile may have missed its listing, and
            // stays queued for the next round.
            reconcileAll = false;
          }
          deletes.forEach(toDelete::remove);
          for (Map.Entry<Digest, CompletableFuture<Void>> e : registers) {
            toRegister.remove(e.getKey(), e.getValue());
            e.getValue().complete(null);
          }
        }
        if (!Boolean.TRUE.equals(reachable)) {
          LOG.info("containerd at unix://{} (namespace {}): lamina's images are registered", client.socket(),
              client.namespace());
        }
        reachable = true;
        backoff = BACKOFF_FIRST;
      } catch (StatusRuntimeException e) {
        if (!unavailable(e)) {
          LOG.warn("registering lamina's images in containerd failed: {}; retrying in {} s", e.getStatus(),
              backoff.toSeconds());
        } else if (Boolean.TRUE.equals(reachable) || backoff.equals(BACKOFF_FIRST)) {
          LOG.warn("containerd at unix://{} is not reachable ({}); lamina serves on, and registers its images "
              + "once containerd is back", client.socket(), e.getStatus().getCode());
        }
        if (!Boolean.FALSE.equals(reachable)) {
          unreachableSince = System.nanoTime();
        }
        reachable = false;
        synchronized (this) {
          reconcileAll = true; // containerd may have restarted, and collected garbage meanwhile
          try {
            if (queued == seen) { // else a pull waits: try again at once
              wait(backoff.toMillis());
            }
          } catch (InterruptedException ie) {
            return;
          }
        }
        backoff = backoff.multipliedBy(2).compareTo(BACKOFF_MAX) > 0 ? BACKOFF_MAX : backoff.multipliedBy(2);
      } catch (IOException | RuntimeException e) {
        LOG.warn("registering lamina's images in containerd failed: {}", e.toString());
        synchronized (this) {
          // what failed waits for the next reconcile; a pull waiting on it goes on
          registers.forEach(r -> {
            toRegister.remove(r.getKey(), r.getValue());
            r.getValue().completeExceptionally(e);
          });
          if (all) {
            reconcileAll = false;
            nextReconcile = System.nanoTime() + BACKOFF_MAX.toNanos();
          }
        }
      }
    }
  }

  private static boolean unavailable(StatusRuntimeException e) {
    Status.Code c = e.getStatus().getCode();
    return c == Status.Code.UNAVAILABLE || c == Status.Code.DEADLINE_EXCEEDED;
  }

  private void registerOne(Digest id) throws IOException {
    Optional<ImageRecord> r = images.find(id.toString());
    if (r.isPresent()) { // removed meanwhile: nothing to register
      long start = System.nanoTime();
      registrar.register(r.get());
      LOG.info("image {} ({}) registered in containerd in {} ms", id, String.join(", ", r.get().repoTags()),
          (System.nanoTime() - start) / 1_000_000);
    }
  }

  /** Both directions: every image lamina holds is registered; records of images it no longer holds go. */
  private void reconcile() throws IOException {
    List<ImageRecord> held = images.list();
    Set<String> wanted = new HashSet<>();
    for (ImageRecord r : held) {
      wanted.addAll(Registrar.names(r));
    }
    Set<String> stale = new LinkedHashSet<>(registrar.registeredNames());
    stale.removeAll(wanted);
    registrar.unregister(stale);
    if (!stale.isEmpty()) {
      listener.unregistered(stale.size());
    }
    int failed = 0;
    for (ImageRecord r : held) {
      try {
        registrar.register(r);
      } catch (StatusRuntimeException e) {
        if (unavailable(e)) {
          throw e;
        }
        failed++;
        listener.failed();
        LOG.warn("image {} ({}) is not registered in containerd: {}", r.id(), r.repoTags(), e.getStatus());
      } catch (IOException e) {
        failed++;
        listener.failed();
        LOG.warn("image {} ({}) is not registered in containerd: {}", r.id(), r.repoTags(), e.getMessage());
      }
    }
    LOG.debug("reconciled with containerd: {} images registered, {} failed, {} stale names removed",
        held.size() - failed, failed, stale.size());
  }

  /**
   * Registers again what containerd deletes of lamina's images while lamina still holds them, and
   * passes task starts and exits on; a stream that breaks is subscribed to again, with backoff.
   */
  private void watchEvents() {
    Duration backoff = BACKOFF_FIRST;
    while (!isClosed()) {
      CompletableFuture<Void> ended = new CompletableFuture<>();
      Context.CancellableContext ctx = Context.current().withCancellation();
      subscription = ctx;
      String namespace = ",namespace==\"" + client.namespace() + "\"";
      tasks.listening(); // exits before this stream, or while none was open, are unknown
      ctx.run(() -> client.calls().events().subscribe(SubscribeRequest.newBuilder()
          .addFilters("topic==\"" + IMAGE_DELETE + "\"" + namespace)
          .addFilters("topic==\"" + TASK_START + "\"" + namespace)
          .addFilters("topic==\"" + TASK_EXIT + "\"" + namespace).build(),
          new StreamObserver<Envelope>() {
            @Override
            public void onNext(Envelope e) {
              event(e);
            }

            @Override
            public void onError(Throwable t) {
              ended.complete(null);
            }

            @Override
            public void onCompleted() {
              ended.complete(null);
            }
          }));
      try {
        try {
          ended.get(TASKS_LISTED_AFTER.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
          listTasks(); // the stream has been open a while: a task starting from now on is heard
          ended.get();
        }
      } catch (Exception e) {
        return;
      } finally {
        ctx.cancel(null);
        tasks.listening(); // what happens until the next stream is open is not heard
      }
      synchronized (this) {
        if (closed) {
          return;
        }
        try {
          wait(backoff.toMillis());
        } catch (InterruptedException e) {
          return;
        }
      }
      backoff = backoff.multipliedBy(2).compareTo(BACKOFF_MAX) > 0 ? BACKOFF_MAX : backoff.multipliedBy(2);
    }
  }

  /** Which containers of the namespace have a task that may run, for the sizes: the others have none. */
  private void listTasks() {
    try {
      Set<String> live = new HashSet<>();
      for (Process p : client.calls().tasks().list(ListTasksRequest.getDefaultInstance()).getTasksList()) {
        if (p.getStatus() != dev.lamina.containerd.types.task.Status.STOPPED) {
          live.add(p.getContainerId());
        }
      }
      tasks.running(client.namespace(), live);
    } catch (StatusRuntimeException e) {
      LOG.debug("containerd's tasks not listed: {}", e.getStatus());
    }
  }

  private void event(Envelope e) {
    try {
      // containerd's type URLs have no "type.googleapis.com/" prefix, which Any.unpack requires;
      // the topic says what the event is
      switch (e.getTopic()) {
        case IMAGE_DELETE -> deleted(ImageDelete.parseFrom(e.getEvent().getValue()).getName());
        case TASK_START -> tasks.started(new ContainerKey(e.getNamespace(),
            TaskStart.parseFrom(e.getEvent().getValue()).getContainerId()));
        case TASK_EXIT -> {
          TaskExit exit = TaskExit.parseFrom(e.getEvent().getValue());
          if (exit.getId().isEmpty() || exit.getId().equals(exit.getContainerId())) { // the init process, not an exec
            tasks.exited(new ContainerKey(e.getNamespace(), exit.getContainerId()));
          }
        }
        default -> LOG.debug("containerd event {} not asked for", e.getTopic());
      }
    } catch (IOException | RuntimeException x) {
      LOG.debug("containerd event {} not handled: {}", e.getTopic(), x.toString());
    }
  }

  private void deleted(String name) throws IOException {
    Optional<ImageRecord> held = images.find(name);
    if (held.isPresent() && Registrar.names(held.get()).contains(name)) {
      LOG.info("containerd deleted image {}, which lamina holds: registering it again (remove images "
          + "through lamina's image service)", name);
      register(held.get());
    }
  }

  private synchronized boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      toRegister.values().forEach(f -> f.cancel(false));
      notifyAll();
    }
    Context.CancellableContext s = subscription;
    if (s != null) {
      s.cancel(null);
    }
    worker.interrupt();
    events.interrupt();
    try {
      worker.join(5000);
      events.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    client.close();
  }
}
