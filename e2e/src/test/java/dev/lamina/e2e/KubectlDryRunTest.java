package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.lamina.helm.Chart;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code kubectl apply --dry-run=client} of what the chart renders, where kubectl is installed.
 * kubectl maps every object's kind through the API server's discovery and asks for the live
 * object; a loopback server of the test's own answers with the discovery of the kinds a cluster
 * has (the core ones, apps, RBAC, and the Prometheus operator's) and "not found" for every object,
 * so kubectl decodes, maps and would create each of them.
 */
class KubectlDryRunTest {
  @TempDir Path tmp;

  /** group/version -> its resources: name, kind, namespaced. */
  private static final Map<String, List<String[]>> RESOURCES = Map.of(
      "v1", List.of(new String[] {"configmaps", "ConfigMap", "true"},
          new String[] {"serviceaccounts", "ServiceAccount", "true"},
          new String[] {"services", "Service", "true"},
          new String[] {"namespaces", "Namespace", "false"}),
      "apps/v1", List.<String[]>of(new String[] {"daemonsets", "DaemonSet", "true"}),
      "rbac.authorization.k8s.io/v1", List.of(new String[] {"clusterroles", "ClusterRole", "false"},
          new String[] {"clusterrolebindings", "ClusterRoleBinding", "false"},
          new String[] {"roles", "Role", "true"}, new String[] {"rolebindings", "RoleBinding", "true"}),
      "monitoring.coreos.com/v1", List.of(new String[] {"servicemonitors", "ServiceMonitor", "true"},
          new String[] {"prometheusrules", "PrometheusRule", "true"}));

  private static String resourceList(String groupVersion) {
    StringBuilder b = new StringBuilder("{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":\"")
        .append(groupVersion).append("\",\"resources\":[");
    List<String[]> rs = RESOURCES.get(groupVersion);
    for (int i = 0; i < rs.size(); i++) {
      String[] r = rs.get(i);
      b.append(i == 0 ? "" : ",").append("{\"name\":\"").append(r[0]).append("\",\"singularName\":\"\",\"namespaced\":")
          .append(r[2]).append(",\"kind\":\"").append(r[1])
          .append("\",\"verbs\":[\"create\",\"delete\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]}");
    }
    return b.append("]}").toString();
  }

  private static String groupList() {
    StringBuilder b = new StringBuilder("{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[");
    boolean first = true;
    for (String gv : RESOURCES.keySet()) {
      if (!gv.contains("/")) {
        continue;
      }
      String group = gv.substring(0, gv.indexOf('/'));
      String version = "{\"groupVersion\":\"" + gv + "\",\"version\":\"" + gv.substring(gv.indexOf('/') + 1) + "\"}";
      b.append(first ? "" : ",").append("{\"name\":\"").append(group).append("\",\"versions\":[").append(version)
          .append("],\"preferredVersion\":").append(version).append('}');
      first = false;
    }
    return b.append("]}").toString();
  }

  private static void answer(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    int status = 200;
    String body;
    if (path.equals("/api")) {
      body = "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],\"serverAddressByClientCIDRs\":[]}";
    } else if (path.equals("/apis")) {
      body = groupList();
    } else if (path.equals("/api/v1")) {
      body = resourceList("v1");
    } else if (path.startsWith("/apis/") && RESOURCES.containsKey(path.substring("/apis/".length()))) {
      body = resourceList(path.substring("/apis/".length()));
    } else if (path.equals("/version")) {
      body = "{\"major\":\"1\",\"minor\":\"32\",\"gitVersion\":\"v1.32.0\"}";
    } else {
      status = 404;
      body = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404}";
    }
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(status, bytes.length);
    ex.getResponseBody().write(bytes);
    ex.close();
  }

  @ParameterizedTest
  @ValueSource(strings = {"systemd", "pod"})
  void kubectlAcceptsTheRenderedChart(String mode) throws Exception {
    assumeTrue(Commands.succeeds("sh", "-c", "command -v kubectl"), "kubectl is not installed");
    Chart.Rendered r = Chart.render("mode", mode, "metrics.serviceMonitor.enabled", true,
        "metrics.prometheusRule.enabled", true);
    Path manifests = Files.writeString(tmp.resolve("lamina.yaml"), r.yaml());
    HttpServer api = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    api.createContext("/", KubectlDryRunTest::answer);
    api.start();
    try {
      Commands.Result applied = Commands.run(null, Duration.ofMinutes(1), List.of("kubectl",
          "--server", "http://127.0.0.1:" + api.getAddress().getPort(), "--cache-dir", tmp.resolve("cache").toString(),
          "apply", "--dry-run=client", "--validate=false", "-f", manifests.toString(), "-o", "name"));
      assertThat(applied.exitCode()).as("kubectl: %s", applied.stderr()).isZero();
      assertThat(applied.stdout().lines().toList()).hasSize(r.objects().size())
          .contains("daemonset.apps/lamina", "configmap/lamina", "serviceaccount/lamina",
              "clusterrole.rbac.authorization.k8s.io/lamina", "clusterrolebinding.rbac.authorization.k8s.io/lamina",
              "servicemonitor.monitoring.coreos.com/lamina", "prometheusrule.monitoring.coreos.com/lamina");
    } finally {
      api.stop(0);
    }
  }
}
