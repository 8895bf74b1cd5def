package dev.lamina.e2e;

import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Not a test: the gRPC-client side of bench/snapshotter-ops.sh. Times containerd Snapshots calls
 * from one long-lived client, so no process start is in the figures:
 *
 * <ul>
 *   <li>{@code lamina-direct}: lamina's socket, as containerd's proxy plugin calls it;
 *   <li>{@code lamina-via-containerd}: containerd's Snapshots service with snapshotter lamina
 *       (containerd's metadata, then the proxy);
 *   <li>{@code overlayfs-via-containerd}: containerd's Snapshots service with its own overlayfs.
 * </ul>
 *
 * <p>Per target: prepare+commit of a {@code chain}-layer chain (no files written), extended to
 * {@code depth} layers, then {@code views} times view + mounts of the deepest layer, then removes.
 *
 * <p>Run: {@code java -cp e2e/target/test-classes:image-service/target/lamina.jar
 * dev.lamina.e2e.ContainerdSnapshotterBench CONTAINERD_SOCK LAMINA_SOCK [chain depth views]}
 */
public final class ContainerdSnapshotterBench {
  /** Keeps what the bench makes through containerd from its garbage collector until removed. */
  private static final Map<String, String> GC_ROOT = Map.of("containerd.io/gc.root", "bench");

  private ContainerdSnapshotterBench() {}

  public static void main(String[] args) {
    if (args.length < 2) {
      System.err.println("usage: ContainerdSnapshotterBench CONTAINERD_SOCK LAMINA_SOCK [chain depth views]");
      System.exit(2);
    }
    Path containerd = Path.of(args[0]);
    Path lamina = Path.of(args[1]);
    int chain = args.length > 2 ? Integer.parseInt(args[2]) : 100;
    int depth = args.length > 3 ? Integer.parseInt(args[3]) : 128;
    int views = args.length > 4 ? Integer.parseInt(args[4]) : 50;

    Map<String, Map<String, long[]>> results = new LinkedHashMap<>();
    try (ContainerdSnapshotsClient direct = ContainerdSnapshotsClient.lamina(lamina);
        ContainerdSnapshotsClient viaLamina = ContainerdSnapshotsClient.containerd(containerd, "bench-grpc", "lamina");
        ContainerdSnapshotsClient viaOverlay =
            ContainerdSnapshotsClient.containerd(containerd, "bench-grpc", "overlayfs")) {
      // warm up each path (JIT on both ends, connections)
      for (ContainerdSnapshotsClient c : List.of(direct, viaLamina, viaOverlay)) {
        run(c, "warm", 128, 128, 500);
      }
      results.put("lamina-direct", run(direct, "grpc-direct", chain, depth, views));
      results.put("lamina-via-containerd", run(viaLamina, "grpc", chain, depth, views));
      results.put("overlayfs-via-containerd", run(viaOverlay, "grpc", chain, depth, views));
    }
    System.out.printf(Locale.ROOT, "gRPC client timings, ms per call: median (p90)  [chain=%d depth=%d views=%d]%n",
        chain, depth, views);
    List<String> targets = new ArrayList<>(results.keySet());
    System.out.printf(Locale.ROOT, "%-24s", "operation");
    for (String t : targets) {
      System.out.printf(Locale.ROOT, " %26s", t);
    }
    System.out.println();
    for (String op : results.get(targets.get(0)).keySet()) {
      System.out.printf(Locale.ROOT, "%-24s", op);
      for (String t : targets) {
        long[] ns = results.get(t).get(op);
        System.out.printf(Locale.ROOT, " %26s", String.format(Locale.ROOT, "%.3f (%.3f)", pct(ns, 50), pct(ns, 90)));
      }
      System.out.println();
    }
  }

  private static Map<String, long[]> run(ContainerdSnapshotsClient c, String prefix, int chain, int depth, int views) {
    Map<String, long[]> out = new LinkedHashMap<>();
    long[] prepare = new long[depth];
    long[] commit = new long[depth];
    String parent = "";
    List<String> committed = new ArrayList<>();
    try {
      for (int i = 0; i < depth; i++) {
        String active = prefix + "-a" + i;
        String name = prefix + "-c" + i;
        long t0 = System.nanoTime();
        c.prepare(active, parent, GC_ROOT);
        long t1 = System.nanoTime();
        c.commit(name, active, GC_ROOT);
        long t2 = System.nanoTime();
        prepare[i] = t1 - t0;
        commit[i] = t2 - t1;
        committed.add(name);
        parent = name;
      }
      out.put("prepare (chain " + chain + ")", Arrays.copyOf(prepare, chain));
      out.put("commit (chain " + chain + ")", Arrays.copyOf(commit, chain));
      long[] view = new long[views];
      long[] mounts = new long[views];
      long[] remove = new long[views];
      for (int j = 0; j < views; j++) {
        String key = prefix + "-v" + j;
        long t0 = System.nanoTime();
        c.view(key, parent, GC_ROOT);
        long t1 = System.nanoTime();
        c.mounts(key);
        long t2 = System.nanoTime();
        c.remove(key);
        long t3 = System.nanoTime();
        view[j] = t1 - t0;
        mounts[j] = t2 - t1;
        remove[j] = t3 - t2;
      }
      out.put("view (depth " + depth + ")", view);
      out.put("mounts (depth " + depth + ")", mounts);
      out.put("remove view", remove);
      long[] list = new long[10];
      for (int k = 0; k < list.length; k++) {
        long t0 = System.nanoTime();
        c.list();
        list[k] = System.nanoTime() - t0;
      }
      out.put("list (" + depth + "+ snapshots)", list);
    } finally {
      long[] rm = new long[committed.size()];
      int n = 0;
      for (int i = committed.size() - 1; i >= 0; i--) {
        long t0 = System.nanoTime();
        try {
          c.remove(committed.get(i));
        } catch (StatusRuntimeException e) {
          System.err.println("remove " + committed.get(i) + ": " + e.getStatus());
        }
        rm[n++] = System.nanoTime() - t0;
      }
      out.put("remove committed", Arrays.copyOf(rm, n));
    }
    return out;
  }

  private static double pct(long[] ns, int p) {
    if (ns.length == 0) {
      return Double.NaN;
    }
    long[] s = ns.clone();
    Arrays.sort(s);
    int i = (int) Math.ceil(p / 100.0 * s.length) - 1;
    return s[Math.max(0, Math.min(s.length - 1, i))] / 1e6;
  }
}
