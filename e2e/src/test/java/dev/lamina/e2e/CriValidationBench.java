package dev.lamina.e2e;

import static dev.lamina.fstest.FsTree.chown;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;

import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Not a test: the CRI validation suite of cri-tools ({@code critest}) against two nodes, one after
 * the other, and the outcomes side by side (bench/critest.sh runs it as root):
 *
 * <ul>
 *   <li>A: image endpoint on lamina's CRI socket, runtime endpoint on containerd 1.6 with
 *       snapshotter lamina, lamina registering what it pulls into containerd;
 *   <li>B: containerd serving both endpoints, with its own overlayfs snapshotter.
 * </ul>
 *
 * <p>There is no network: the images the specs pull from {@code registry.k8s.io} and {@code gcr.io}
 * are stand-ins built here with umoci from the host's static busybox, pushed to a local
 * docker-registry under the same repository paths, and both hosts are mirrored to it through
 * {@code hosts.toml} (containerd's {@code config_path} and lamina's {@code --registry-config-dir}
 * are one directory per node).
 *
 * <p>Run: {@code bench/critest.sh [--critest PATH] [--work DIR] [--focus RE] [--skip RE]}
 */
public final class CriValidationBench {
  /**
   * Skipped always, as no stand-in can satisfy them: "public image with digest" pulls its image by
   * the upstream manifest digest; "MaskedPaths" masks /bin/ls and expects {@code sh -c ls} to fail,
   * but Debian's static busybox (the only static one here) runs applets inside its shell without
   * executing /bin/ls.
   */
  static final String ALWAYS_SKIP = "public image with digest should be pulled and removed"
      + "|runtime should support MaskedPaths";
  static final List<Integer> SPEC_HOST_PORTS = List.of(12000, 12001, 12002, 12003);
  static final List<String> MIRRORED = List.of("registry.k8s.io", "gcr.io");
  private static final String E2E = "e2e-test-images/";
  private static final String CRI_TOOLS = "k8s-staging-cri-tools/";
  /** Applets Debian's busybox lacks, written as scripts instead. */
  private static final List<String> STAND_IN_APPLETS = List.of("busybox", "ipcs", "pgrep");
  private static final String PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

  private CriValidationBench() {}

  /** One spec's outcome in one run. */
  record Outcome(String status, String message) {}

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: CriValidationBench WORKDIR CRITEST [FOCUS] [SKIP] [TIMEOUT_MINUTES]");
      System.exit(2);
    }
    Path work = Files.createDirectories(Path.of(args[0]).toAbsolutePath());
    Path critest = Path.of(args[1]);
    String focus = args.length > 2 ? args[2] : "";
    String skip = args.length > 3 ? args[3] : "";
    int timeoutMinutes = args.length > 4 ? Integer.parseInt(args[4]) : 40;
    checkPortsFree();

    long t0 = System.nanoTime();
    Path pauseLayout = pauseImage(work.resolve("pause"));
    Map<String, String> runs = new LinkedHashMap<>();
    Map<String, Map<String, Outcome>> results = new LinkedHashMap<>();
    try (DockerRegistry registry = DockerRegistry.start(work.resolve("registry"))) {
      pushStandIns(work.resolve("images"), registry);
      String pauseRef = registry.push(pauseLayout, "3.6", "bench/pause");
      System.out.printf(Locale.ROOT, "stand-in images pushed to %s in %d s%n", registry.host(),
          (System.nanoTime() - t0) / 1_000_000_000);

      String fullSkip = skip.isEmpty() ? ALWAYS_SKIP : ALWAYS_SKIP + "|" + skip;
      for (String name : List.of("A", "B")) {
        boolean linked = name.equals("A");
        Path dir = work.resolve(linked ? "node-a" : "node-b");
        long t = System.nanoTime();
        try (CriNode node = linked
            ? CriNode.start(dir, registry.host(), pauseRef, true, CriNode.SNAPSHOTTER, null, true)
            : CriNode.start(dir, registry.host(), pauseRef, false, "overlayfs", null, true)) {
          for (String host : MIRRORED) {
            node.addMirror(host, registry.host());
          }
          String runtime = "unix://" + node.containerdSocket();
          String image = linked ? "unix://" + node.lamina().criSocket() : runtime;
          Path junit = work.resolve("junit-" + name + ".xml");
          int rc = runCritest(critest, runtime, image, focus, fullSkip, timeoutMinutes, junit,
              work.resolve("critest-" + name + ".log"));
          if (!Files.exists(junit)) {
            throw new IOException("critest on node " + name + " exited " + rc + " without a report; see "
                + work.resolve("critest-" + name + ".log"));
          }
          results.put(name, readJunit(junit));
          runs.put(name, String.format(Locale.ROOT, "critest exit %d, %d s (node %s)", rc,
              (System.nanoTime() - t) / 1_000_000_000, dir));
        }
        checkPortsFree();
      }
    }
    report(runs, results.get("A"), results.get("B"));
    System.out.printf(Locale.ROOT, "total %d s%n", (System.nanoTime() - t0) / 1_000_000_000);
  }

  // ------------------------------------------------------------------ stand-in images

  /**
   * Builds the stand-ins in one OCI layout (a busybox base tag, every image a tag made from it) and
   * pushes each under its upstream repository path.
   */
  static void pushStandIns(Path work, DockerRegistry registry) throws Exception {
    Path scratch = Files.createDirectories(work.resolve("scratch"));
    Umoci base = Umoci.create(work.resolve("layout"), "base", scratch);
    base.layer(rootfs -> FsTree.apply(rootfs, busyboxRootfs()));
    base.config("--config.env", PATH_ENV, "--config.cmd", "sh");
    Path layout = base.layout();

    push(registry, layout, "base", E2E + "busybox", "1.29-2");

    Umoci nginx = base.tag("nginx");
    nginx.layer(rootfs -> FsTree.apply(rootfs, webServer(80)));
    nginx.config("--config.entrypoint", "/docker-entrypoint.sh", "--config.cmd", "nginx", "--config.cmd", "-g",
        "--config.cmd", "daemon off;", "--config.exposedports", "80/tcp", "--config.stopsignal", "SIGTERM");
    push(registry, layout, "nginx", E2E + "nginx", "1.14-2");

    Umoci hostnet = base.tag("hostnet");
    hostnet.layer(rootfs -> FsTree.apply(rootfs, webServer(12003)));
    hostnet.config("--config.entrypoint", "/docker-entrypoint.sh", "--config.cmd", "nginx", "--config.cmd", "-g",
        "--config.cmd", "daemon off;", "--config.exposedports", "12003/tcp");
    push(registry, layout, "hostnet", CRI_TOOLS + "hostnet-nginx-amd64", "latest");

    Umoci httpd = base.tag("httpd");
    httpd.layer(rootfs -> FsTree.apply(rootfs,
        dir("usr/local/apache2/htdocs", 0755),
        file("usr/local/apache2/htdocs/index.html", "<html><body><h1>It works!</h1></body></html>\n", 0644),
        dir("usr/local/bin", 0755),
        file("usr/local/bin/httpd-foreground", String.join("\n",
            "#!/bin/sh",
            "# stand-in for httpd:2.4: busybox httpd, logging the line the real one logs",
            "echo \"[core:notice] [pid $$] AH00094: Command line: 'httpd -D FOREGROUND'\" >&2",
            "exec httpd -f -p 80 -h /usr/local/apache2/htdocs",
            ""), 0755)));
    httpd.config("--config.cmd", "httpd-foreground", "--config.exposedports", "80/tcp",
        "--config.workingdir", "/usr/local/apache2");
    push(registry, layout, "httpd", E2E + "httpd", "2.4.39-4");

    Umoci nnp = base.tag("nonewprivs");
    byte[] nnpBinary = compileNnp(scratch);
    nnp.layer(rootfs -> FsTree.apply(rootfs,
        dir("usr/local/bin", 0755),
        file("usr/local/bin/nnp", nnpBinary, 04755),
        chown("usr/local/bin/nnp", 0, 0)));
    nnp.config("--config.entrypoint", "/usr/local/bin/nnp");
    push(registry, layout, "nonewprivs", E2E + "nonewprivs", "1.3");

    Umoci group = base.tag("predefined-group");
    group.layer(rootfs -> FsTree.apply(rootfs,
        file("etc/passwd", passwd() + "default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n", 0644),
        file("etc/group", group() + "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n", 0644),
        dir("home/default-user", 0755),
        chown("home/default-user", 1000, 1000)));
    group.config("--config.user", "1000");
    push(registry, layout, "predefined-group", CRI_TOOLS + "test-image-predefined-group", "latest");

    // the Image Manager specs' images (images/image-test, images/image-user in cri-tools)
    for (String name : List.of("test-image-1", "test-image-2", "test-image-3", "test-image-latest",
        "test-image-tag", "test-image-tags")) {
      Umoci u = base.tag(name);
      String file = name.equals("test-image-tags") ? "same-image" : name;
      u.layer(rootfs -> FsTree.apply(rootfs, file(file, "", 0644)));
    }
    for (String name : List.of("test-image-1", "test-image-2", "test-image-3", "test-image-latest")) {
      push(registry, layout, name, CRI_TOOLS + name, "latest");
    }
    push(registry, layout, "test-image-tag", CRI_TOOLS + "test-image-tag", "test");
    push(registry, layout, "test-image-tag", CRI_TOOLS + "test-image-tag", "all");
    for (String tag : List.of("1", "2", "3")) {
      push(registry, layout, "test-image-tags", CRI_TOOLS + "test-image-tags", tag);
    }
    Map<String, String> users = new LinkedHashMap<>();
    users.put("test-image-user-uid", "1002");
    users.put("test-image-user-username", "www-data");
    users.put("test-image-user-uid-group", "1003:1004");
    users.put("test-image-user-username-group", "www-data:1004");
    for (var e : users.entrySet()) {
      Umoci u = base.tag(e.getKey());
      u.config("--config.user", e.getValue());
      push(registry, layout, e.getKey(), CRI_TOOLS + e.getKey(), "latest");
    }
  }

  /** Pushes {@code layout:layoutTag} as {@code repository:tag}. */
  private static void push(DockerRegistry registry, Path layout, String layoutTag, String repository, String tag)
      throws IOException {
    registry.pushAll(layout, layoutTag, repository, tag, null);
  }

  /** busybox:1.29's tree: every applet of the host's static busybox as a hard link in /bin. */
  private static List<FsOp> busyboxRootfs() throws IOException {
    List<FsOp> ops = new ArrayList<>(List.of(
        dir("bin", 0755),
        file("bin/busybox", Files.readAllBytes(ContainerdTestImages.BUSYBOX), 0755),
        dir("etc", 0755),
        file("etc/passwd", passwd(), 0644),
        file("etc/group", group(), 0644),
        file("etc/shadow", "root:*:10933:0:99999:7:::\n", 0600),
        dir("home", 0755),
        dir("root", 0700),
        dir("tmp", 01777),
        dir("usr/sbin", 0755),
        dir("var/spool/mail", 0755),
        dir("var/www", 0755),
        dir("var/run", 0755),
        dir("dev", 0755),
        dir("proc", 0555),
        dir("sys", 0555),
        // Debian's busybox has no ipcs applet, which the HostIpc specs run (ipcs -m)
        file("bin/ipcs", String.join("\n",
            "#!/bin/sh",
            "# stand-in for busybox ipcs -m: the shared memory segments of this IPC namespace",
            "echo",
            "echo '------ Shared Memory Segments --------'",
            "echo 'key        shmid      owner      perms      bytes      nattch     status'",
            "awk 'NR > 1 { printf \"0x%08x %-10s %-10s %-10s %-10s %-10s\\n\", $1, $2, $8, $3, $4, $7 }' /proc/sysvipc/shm",
            "echo",
            ""), 0755),
        // nor pgrep, which "execSync with timeout" runs (pgrep sleep)
        file("bin/pgrep", String.join("\n",
            "#!/bin/sh",
            "# stand-in for busybox pgrep PATTERN: the pids whose name matches",
            "rc=1",
            "for d in /proc/[0-9]*; do",
            "  name=$(cat \"$d/comm\" 2>/dev/null) || continue",
            "  if echo \"$name\" | grep -q -- \"$1\"; then echo \"${d#/proc/}\"; rc=0; fi",
            "done",
            "exit $rc",
            ""), 0755)));
    // hard links, as in the busybox image: a symlink would let MaskedPaths ["/bin/ls"] mask busybox itself
    for (String applet : Commands.run("/bin/busybox", "--list").check().stdout().lines().toList()) {
      if (!applet.isBlank() && !STAND_IN_APPLETS.contains(applet)) {
        ops.add(link("bin/" + applet, "bin/busybox"));
      }
    }
    return ops;
  }

  private static String passwd() {
    return String.join("\n",
        "root:x:0:0:root:/root:/bin/sh",
        "daemon:x:1:1:daemon:/usr/sbin:/bin/false",
        "bin:x:2:2:bin:/bin:/bin/false",
        "sys:x:3:3:sys:/dev:/bin/false",
        "sync:x:4:100:sync:/bin:/bin/sync",
        "mail:x:8:8:mail:/var/spool/mail:/bin/false",
        "www-data:x:33:33:www-data:/var/www:/bin/false",
        "operator:x:37:37:Operator:/var:/bin/false",
        "nobody:x:65534:65534:nobody:/home:/bin/false",
        "");
  }

  private static String group() {
    return String.join("\n",
        "root:x:0:",
        "daemon:x:1:",
        "bin:x:2:",
        "sys:x:3:",
        "adm:x:4:",
        "tty:x:5:",
        "disk:x:6:",
        "wheel:x:10:root",
        "mail:x:12:",
        "www-data:x:33:",
        "users:x:100:",
        "nogroup:x:65534:",
        "");
  }

  /**
   * nginx stand-in: {@code /docker-entrypoint.sh} writes its pid to {@code /var/run/nginx.pid}
   * and execs {@code /usr/sbin/nginx}, a script (so {@code pidof nginx} finds it by its name) whose
   * command line says {@code master process} (what the PID namespace specs grep {@code
   * /proc/1/cmdline} for) and which runs busybox httpd on {@code port} as its child.
   */
  private static List<FsOp> webServer(int port) {
    return List.of(
        file("docker-entrypoint.sh", String.join("\n",
            "#!/bin/sh",
            "echo $$ > /var/run/nginx.pid",
            "if [ \"$1\" = nginx ]; then shift; exec /usr/sbin/nginx \"nginx: master process nginx $*\"; fi",
            "exec \"$@\"",
            ""), 0755),
        file("usr/sbin/nginx", String.join("\n",
            "#!/bin/sh",
            "# stand-in for nginx: busybox httpd on port " + port + " as a child",
            "httpd -f -p " + port + " -h /usr/share/nginx/html &",
            "child=$!",
            "trap 'kill $child; wait $child; rm -f /var/run/nginx.pid; exit 0' TERM INT QUIT",
            "wait $child",
            ""), 0755),
        dir("etc/nginx", 0755),
        dir("var/log/nginx", 0755),
        dir("usr/share/nginx/html", 0755),
        file("usr/share/nginx/html/index.html", String.join("\n",
            "<!DOCTYPE html>",
            "<html><head><title>Welcome to nginx!</title></head>",
            "<body><h1>Welcome to nginx!</h1></body></html>",
            ""), 0644));
  }

  /**
   * The sandbox image: a static pause like kubernetes' pause.c (waits for signals, reaps children,
   * exits on SIGTERM/SIGINT), not a shell loop, whose {@code sleep} children the containers sharing
   * the pod's PID namespace would see ("execSync with timeout" checks that {@code pgrep sleep}
   * finds nothing).
   */
  private static Path pauseImage(Path work) throws Exception {
    Path scratch = Files.createDirectories(work.resolve("scratch"));
    byte[] pause = compile(scratch, "pause", String.join("\n",
        "#include <signal.h>",
        "#include <stdlib.h>",
        "#include <sys/wait.h>",
        "#include <unistd.h>",
        "static void quit(int sig) { _exit(0); }",
        "static void reap(int sig) { while (waitpid(-1, NULL, WNOHANG) > 0) {} }",
        "int main(void) {",
        "  signal(SIGINT, quit);",
        "  signal(SIGTERM, quit);",
        "  signal(SIGCHLD, reap);",
        "  for (;;) pause();",
        "}",
        ""));
    Umoci umoci = Umoci.create(work.resolve("layout"), "3.6", scratch);
    umoci.layer(rootfs -> FsTree.apply(rootfs, file("pause", pause, 0755)));
    umoci.config("--config.entrypoint", "/pause");
    return umoci.layout();
  }

  /** The nonewprivs image's binary: prints its effective uid (setuid root in the image). */
  private static byte[] compileNnp(Path scratch) throws IOException {
    return compile(scratch, "nnp", String.join("\n",
        "#include <stdio.h>",
        "#include <unistd.h>",
        "int main(void) { printf(\"Effective uid: %d\\n\", (int) geteuid()); return 0; }",
        ""));
  }

  /** A static binary of C {@code source} (gcc and libc6-dev). */
  private static byte[] compile(Path scratch, String name, String source) throws IOException {
    Path src = scratch.resolve(name + ".c");
    Path bin = scratch.resolve(name);
    Files.writeString(src, source, StandardCharsets.UTF_8);
    Commands.Result r = Commands.run("gcc", "-static", "-O2", "-o", bin.toString(), src.toString());
    if (!r.ok()) {
      throw new IOException("gcc -static failed (the pause and nonewprivs stand-ins need gcc and libc6-dev): "
          + r.stderr());
    }
    return Files.readAllBytes(bin);
  }

  // ------------------------------------------------------------------ critest

  static void checkPortsFree() throws IOException {
    for (int port : SPEC_HOST_PORTS) {
      for (InetAddress address : List.of(InetAddress.getLoopbackAddress(), InetAddress.getByName("0.0.0.0"))) {
        try (ServerSocket s = new ServerSocket()) {
          s.setReuseAddress(true);
          s.bind(new InetSocketAddress(address, port));
        } catch (IOException e) {
          throw new IOException("host port " + port + " (used by the networking specs) is held on " + address
              + ": " + e.getMessage() + "; ss -ltnp 'sport = :" + port + "' shows by what");
        }
      }
    }
  }

  private static int runCritest(Path critest, String runtime, String image, String focus, String skip,
      int timeoutMinutes, Path junit, Path log) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(critest.toString(),
        "-runtime-endpoint", runtime,
        "-image-endpoint", image,
        "-ginkgo.no-color",
        "-ginkgo.junit-report=" + junit,
        "-ginkgo.timeout=" + timeoutMinutes + "m",
        "-ginkgo.skip=" + skip));
    if (!focus.isEmpty()) {
      cmd.add("-ginkgo.focus=" + focus);
    }
    Files.writeString(log, String.join(" ", cmd) + "\n", StandardCharsets.UTF_8);
    System.out.println("running: " + String.join(" ", cmd));
    Process p = new ProcessBuilder(cmd)
        .directory(junit.getParent().toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    p.getOutputStream().close();
    if (!p.waitFor(timeoutMinutes + 5L, TimeUnit.MINUTES)) {
      p.destroy();
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
      }
      System.err.println("critest did not finish within " + (timeoutMinutes + 5) + " min; killed");
    }
    return p.exitValue();
  }

  /** Ginkgo v2's JUnit report: one testcase per spec, {@code status} passed, failed, skipped, ... */
  static Map<String, Outcome> readJunit(Path junit) throws Exception {
    Map<String, Outcome> out = new LinkedHashMap<>();
    try (InputStream in = Files.newInputStream(junit)) {
      var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(in);
      NodeList cases = doc.getElementsByTagName("testcase");
      for (int i = 0; i < cases.getLength(); i++) {
        Element c = (Element) cases.item(i);
        String name = c.getAttribute("name");
        if (!name.startsWith("[It]")) {
          continue; // suite setup and teardown
        }
        name = name.substring(4).strip().replace("[k8s.io] ", "");
        String status = c.getAttribute("status");
        String message = "";
        for (String tag : List.of("failure", "error")) {
          NodeList f = c.getElementsByTagName(tag);
          if (f.getLength() > 0) {
            Element e = (Element) f.item(0);
            message = e.getAttribute("message");
            if (message.isBlank()) {
              message = e.getTextContent();
            }
            if (status.isEmpty()) {
              status = tag.equals("failure") ? "failed" : "error";
            }
          }
        }
        if (status.isEmpty()) {
          status = c.getElementsByTagName("skipped").getLength() > 0 ? "skipped" : "passed";
        }
        out.put(name, new Outcome(status, message.strip()));
      }
    }
    return out;
  }

  private static void report(Map<String, String> runs, Map<String, Outcome> a, Map<String, Outcome> b) {
    System.out.println();
    runs.forEach((name, text) -> System.out.println(name + ": " + text));
    TreeSet<String> specs = new TreeSet<>(a.keySet());
    specs.addAll(b.keySet());
    int width = Math.min(110, specs.stream().mapToInt(String::length).max().orElse(10));
    System.out.printf(Locale.ROOT, "%n%-" + width + "s  %-8s  %-8s%n", "spec", "A", "B");
    for (String spec : specs) {
      String shown = spec.length() > width ? spec.substring(0, width - 3) + "..." : spec;
      System.out.printf(Locale.ROOT, "%-" + width + "s  %-8s  %-8s%n", shown, status(a, spec), status(b, spec));
    }
    System.out.println();
    System.out.println("totals (A = image endpoint lamina, runtime containerd + snapshotter lamina; B = containerd + overlayfs):");
    for (var run : List.of(Map.entry("A", a), Map.entry("B", b))) {
      Map<String, Integer> counts = new java.util.TreeMap<>();
      run.getValue().values().forEach(o -> counts.merge(o.status(), 1, Integer::sum));
      System.out.println("  " + run.getKey() + ": " + counts + " of " + run.getValue().size());
    }
    System.out.println();
    System.out.println("different outcome:");
    int differ = 0;
    for (String spec : specs) {
      String sa = status(a, spec);
      String sb = status(b, spec);
      if (!sa.equals(sb)) {
        differ++;
        System.out.println("  " + spec + ": A " + sa + ", B " + sb);
        Outcome o = a.containsKey(spec) && !a.get(spec).message().isEmpty() ? a.get(spec) : b.get(spec);
        if (o != null && !o.message().isEmpty()) {
          String m = o.message().replace("\n", "\n      ");
          System.out.println("    " + (o == a.get(spec) ? "A" : "B") + ": " + (m.length() > 1500 ? m.substring(0, 1500)
              + " ..." : m));
        }
      }
    }
    if (differ == 0) {
      System.out.println("  (none)");
    }
  }

  private static String status(Map<String, Outcome> run, String spec) {
    Outcome o = run.get(spec);
    return o == null ? "-" : o.status();
  }
}
