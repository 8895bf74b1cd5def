package dev.lamina.e2e;

import dev.lamina.cri.runtime.v1.Api;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Not a test: what linking lamina to containerd costs and what a container start costs on a
 * lamina image, in one run (bench/cri-node.sh runs it as root):
 *
 * <ul>
 *   <li>pull through lamina's CRI socket, linked to containerd, and the registration's share of it
 *       (lamina's log line "registered in containerd in N ms"), for a four-layer and a one-layer
 *       image, each pulled and removed {@code rounds} times; and for the reference image of
 *       shared/BENCHMARKING.md when its OCI layout is given (tag {@code ref}, as {@code
 *       bench/pull.sh --build-only} leaves it);
 *   <li>CreateContainer plus StartContainer through containerd's CRI: on the lamina-pulled image
 *       with snapshotter lamina, and on the same image pulled by containerd into its own overlayfs
 *       snapshotter, alternating, {@code rounds} each, in one pod per node.
 * </ul>
 *
 * <p>Run: {@code bench/cri-node.sh [--rounds N] [--work DIR] [--reference LAYOUT]}
 */
public final class CriNodeBench {
  private static final Pattern REGISTERED = Pattern.compile("\\(([^)]*)\\) registered in containerd in (\\d+) ms");

  private CriNodeBench() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: CriNodeBench WORKDIR [rounds [reference-layout]]");
      System.exit(2);
    }
    Path work = Files.createDirectories(Path.of(args[0]));
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    Path reference = args.length > 2 && !args[2].isEmpty() ? Path.of(args[2]) : null;
    ContainerdTestImages.Built pause = ContainerdTestImages.pause(work.resolve("pause"), "1");
    ContainerdTestImages.Built busybox = ContainerdTestImages.busybox(work.resolve("busybox"), "1");
    try (DockerRegistry registry = DockerRegistry.start(work.resolve("registry"))) {
      String pauseRef = registry.push(pause.layout(), pause.tag(), "bench/pause");
      String oneLayer = registry.push(pause.layout(), pause.tag(), "bench/one-layer");
      String fourLayers = registry.push(busybox.layout(), busybox.tag(), "bench/four-layers");
      List<String> pulled = new ArrayList<>();
      if (reference != null) {
        pulled.add(registry.push(reference, "ref", "bench/reference"));
      }
      pulled.addAll(List.of(fourLayers, oneLayer));
      try (CriNode linked = CriNode.start(work.resolve("linked"), registry.host(), pauseRef, true);
          CriNode overlay = CriNode.start(work.resolve("overlay"), registry.host(), pauseRef, false, "overlayfs");
          CriImagesClient laminaImages = CriImagesClient.connect(linked.lamina().criSocket());
          CriImagesClient containerdImages = CriImagesClient.connect(overlay.containerdSocket())) {
        System.out.printf(Locale.ROOT, "pull through lamina linked to containerd, ms: median (min-max) of %d%n", rounds);
        for (String ref : pulled) {
          List<Long> pulls = new ArrayList<>();
          for (int i = 0; i < rounds; i++) {
            long t = System.nanoTime();
            String id = laminaImages.pull(ref, null, Duration.ofMinutes(5));
            pulls.add((System.nanoTime() - t) / 1_000_000);
            laminaImages.remove(id);
          }
          List<Long> registered = registrations(linked.lamina().logText(), ref);
          System.out.printf(Locale.ROOT, "  %-14s pull %s, of which registration %s (%d logged)%n",
              ref.substring(ref.lastIndexOf('/') + 1), stats(pulls), stats(registered), registered.size());
        }

        String laminaId = laminaImages.pull(fourLayers, null, Duration.ofMinutes(5));
        String overlayId = containerdImages.pull(fourLayers, null, Duration.ofMinutes(5));
        List<Long> onLamina = new ArrayList<>();
        List<Long> onOverlay = new ArrayList<>();
        try (Pod a = Pod.run(linked); Pod b = Pod.run(overlay)) {
          for (int i = 0; i < rounds; i++) {
            onLamina.add(a.createAndStart(laminaId, i));
            onOverlay.add(b.createAndStart(overlayId, i));
          }
        }
        System.out.printf(Locale.ROOT, "CreateContainer + StartContainer through containerd's CRI, ms: median "
            + "(min-max) of %d%n  snapshotter lamina    %s%n  snapshotter overlayfs %s%n", rounds, stats(onLamina),
            stats(onOverlay));
      }
    }
  }

  /** One pod on a node, whose containers the bench creates, starts and removes. */
  private record Pod(CriRuntimeClient cri, String id, Api.PodSandboxConfig config) implements AutoCloseable {
    static Pod run(CriNode node) throws Exception {
      String uid = UUID.randomUUID().toString();
      Path logs = Files.createDirectories(node.dir().resolve("pods/bench_" + uid));
      Api.PodSandboxConfig config = CriRuntimeClient.pod("bench", uid, "default", "bench", logs);
      CriRuntimeClient cri = node.runtime();
      return new Pod(cri, cri.runPodSandbox(config), config);
    }

    /** Creates and starts a container (timed), then stops and removes it (not timed). */
    long createAndStart(String image, int n) {
      long t = System.nanoTime();
      String c = cri.createContainer(id, CriRuntimeClient.container("c" + n, image, List.of("/bin/sleep", "600"),
          "c" + n + ".log"), config);
      cri.startContainer(c);
      long ms = (System.nanoTime() - t) / 1_000_000;
      cri.stopContainer(c, Duration.ZERO);
      cri.removeContainer(c);
      return ms;
    }

    @Override
    public void close() {
      cri.stopPodSandbox(id);
      cri.removePodSandbox(id);
    }
  }

  private static List<Long> registrations(String log, String ref) {
    List<Long> ms = new ArrayList<>();
    for (String line : log.lines().toList()) {
      Matcher m = REGISTERED.matcher(line);
      if (m.find() && m.group(1).contains(ref)) {
        ms.add(Long.parseLong(m.group(2)));
      }
    }
    return ms;
  }

  private static String stats(List<Long> values) {
    if (values.isEmpty()) {
      return "-";
    }
    List<Long> sorted = values.stream().sorted().toList();
    return String.format(Locale.ROOT, "%d (%d-%d)", sorted.get(sorted.size() / 2), sorted.get(0),
        sorted.get(sorted.size() - 1));
  }
}
