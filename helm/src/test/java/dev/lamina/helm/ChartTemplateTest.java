package dev.lamina.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import dev.lamina.cli.Main;
import dev.lamina.config.ConfigFile;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** helm lint and helm template of helm/lamina: what the rendered objects say, for each option. */
class ChartTemplateTest {
  @TempDir Path dir;

  private static PodSpec pod(Chart.Rendered r) {
    return r.daemonSet().getSpec().getTemplate().getSpec();
  }

  private static Container container(PodSpec pod, String name) {
    return java.util.stream.Stream.concat(pod.getInitContainers().stream(), pod.getContainers().stream())
        .filter(c -> c.getName().equals(name)).findFirst().orElseThrow(() -> new AssertionError("no container " + name));
  }

  private static Map<String, VolumeMount> mounts(Container c) {
    return c.getVolumeMounts().stream().collect(Collectors.toMap(VolumeMount::getMountPath, Function.identity()));
  }

  private static Map<String, Volume> volumes(PodSpec pod) {
    return pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, Function.identity()));
  }

  private static Map<String, EnvVar> env(Container c) {
    return c.getEnv().stream().collect(Collectors.toMap(EnvVar::getName, Function.identity()));
  }

  @Test
  void lintPassesStrict() {
    LintResult lint = new Helm(Chart.dir()).lint().strict().call();
    assertThat(lint.isFailed()).as("%s", lint.getMessages()).isFalse();
    assertThat(lint.getMessages()).noneMatch(m -> m.contains("[ERROR]") || m.contains("[WARNING]"));
  }

  @Test
  void defaultsRenderThePrivilegedDaemonSetWithTheNodesDirectoriesShared() {
    Chart.Rendered r = Chart.render();
    assertThat(r.kinds()).containsExactlyInAnyOrder("ServiceAccount", "ConfigMap", "ClusterRole",
        "ClusterRoleBinding", "Role", "RoleBinding", "Service", "DaemonSet");
    DaemonSet ds = r.daemonSet();
    assertThat(ds.getMetadata().getNamespace()).isEqualTo(Chart.NAMESPACE);
    assertThat(ds.getSpec().getUpdateStrategy().getType()).isEqualTo("RollingUpdate");
    PodSpec pod = pod(r);
    assertThat(pod.getPriorityClassName()).isEqualTo("system-node-critical");
    assertThat(pod.getTolerations()).singleElement()
        .satisfies(t -> assertThat(t.getOperator()).isEqualTo("Exists"))
        .satisfies(t -> assertThat(t.getKey()).isNull());
    assertThat(pod.getHostNetwork()).isTrue();
    assertThat(pod.getHostPID()).as("nsenter into the host's systemd").isTrue();
    assertThat(pod.getServiceAccountName()).isEqualTo("lamina");

    Map<String, Volume> volumes = volumes(pod);
    assertThat(volumes.get("state").getHostPath().getPath()).isEqualTo("/var/lib/lamina");
    assertThat(volumes.get("run").getHostPath().getPath()).isEqualTo("/run/lamina");
    assertThat(volumes.get("containerd-socket").getHostPath().getPath()).isEqualTo("/run/containerd/containerd.sock");
    assertThat(volumes.get("containerd-socket").getHostPath().getType()).isEqualTo("Socket");
    assertThat(volumes.get("containerd-config").getHostPath().getPath()).isEqualTo("/etc/containerd");
    assertThat(volumes.get("install").getHostPath().getPath()).isEqualTo("/opt/lamina");
    assertThat(volumes.get("systemd").getHostPath().getPath()).isEqualTo("/etc/systemd/system");

    for (String name : List.of("node-setup", "lamina")) {
      Container c = container(pod, name);
      assertThat(c.getSecurityContext().getPrivileged()).as(name).isTrue();
      Map<String, VolumeMount> mounts = mounts(c);
      assertThat(mounts.get("/var/lib/lamina").getMountPropagation()).as(name).isEqualTo("Bidirectional");
      assertThat(mounts.get("/run/lamina").getMountPropagation()).as(name).isEqualTo("Bidirectional");
      assertThat(mounts.get("/run/containerd/containerd.sock").getName()).isEqualTo("containerd-socket");
      assertThat(mounts.get("/host/etc/containerd").getName()).isEqualTo("containerd-config");
      assertThat(mounts.get("/host/opt/lamina").getName()).isEqualTo("install");
      EnvVar node = env(c).get("NODE_NAME");
      assertThat(node.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
      assertThat(env(c).get("VERSION").getValue()).isEqualTo("0.1.0-SNAPSHOT");
    }
    assertThat(container(pod, "node-setup").getCommand()).containsExactly("/bin/bash", "/etc/lamina-chart/node-setup.sh", "install");
    Container main = container(pod, "lamina");
    assertThat(main.getCommand()).containsExactly("/bin/bash", "/etc/lamina-chart/node-setup.sh", "supervise");
    assertThat(main.getImage()).isEqualTo("lamina:0.1.0-SNAPSHOT");
    assertThat(main.getPorts()).singleElement().satisfies(p -> {
      assertThat(p.getName()).isEqualTo("metrics");
      assertThat(p.getContainerPort()).isEqualTo(9464);
    });
    assertThat(main.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
    assertThat(main.getLivenessProbe().getHttpGet().getPort().getStrVal()).isEqualTo("metrics");
    assertThat(main.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    assertThat(main.getResources().getRequests()).containsEntry("cpu", new Quantity("100m"))
        .containsEntry("memory", new Quantity("256Mi"));
    assertThat(main.getResources().getLimits()).containsEntry("memory", new Quantity("512Mi"));

    Service svc = r.get(Service.class);
    assertThat(svc.getSpec().getClusterIP()).isEqualTo("None");
    assertThat(svc.getSpec().getSelector()).isEqualTo(ds.getSpec().getSelector().getMatchLabels());
    assertThat(svc.getSpec().getPorts()).singleElement().satisfies(p -> assertThat(p.getPort()).isEqualTo(9464));
  }

  @Test
  void rbacGrantsThisNodesPodsAndTheNodeAndReadingItsOwnDaemonSet() {
    Chart.Rendered r = Chart.render();
    ClusterRole role = r.get(ClusterRole.class);
    assertThat(role.getRules()).extracting(PolicyRule::getResources, PolicyRule::getVerbs).containsExactly(
        org.assertj.core.groups.Tuple.tuple(List.of("pods"), List.of("get", "list", "watch")),
        org.assertj.core.groups.Tuple.tuple(List.of("nodes"), List.of("get")));
    ClusterRoleBinding binding = r.get(ClusterRoleBinding.class);
    assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
    assertThat(binding.getSubjects()).singleElement().satisfies(s -> {
      assertThat(s.getKind()).isEqualTo("ServiceAccount");
      assertThat(s.getName()).isEqualTo(r.get(ServiceAccount.class).getMetadata().getName());
      assertThat(s.getNamespace()).isEqualTo(Chart.NAMESPACE);
    });
    Role own = r.get(Role.class);
    assertThat(own.getRules()).singleElement().satisfies(rule -> {
      assertThat(rule.getResources()).containsExactly("daemonsets");
      assertThat(rule.getResourceNames()).containsExactly(r.daemonSet().getMetadata().getName());
      assertThat(rule.getVerbs()).containsExactly("get");
    });
  }

  @Test
  void theRenderedLaminaTomlIsOneServeAccepts() throws Exception {
    String toml = Chart.render().configMap().getData().get("lamina.toml");
    Path file = Files.writeString(dir.resolve("lamina.toml"), toml);
    assertThat(Main.run("config", "check", file.toString())).isZero();
    assertThat(ConfigFile.read(file).values())
        .containsEntry("root", "/var/lib/lamina")
        .containsEntry("socket", "/run/lamina/lamina.sock")
        .containsEntry("snapshotter-socket", "/run/lamina/snapshotter.sock")
        .containsEntry("snapshotter-name", "lamina")
        .containsEntry("pinned-image", List.of("registry.k8s.io/pause:3.10"))
        .containsEntry("containerd-address", "/run/containerd/containerd.sock");
  }

  /** lamina registers its images in the containerd whose socket the pod mounts, unless told otherwise. */
  @Test
  void laminaTalksToTheContainerdSocketThePodMounts() throws Exception {
    String k3s = "/run/k3s/containerd/containerd.sock";
    Chart.Rendered r = Chart.render("containerd.socket", k3s);
    Path file = Files.writeString(dir.resolve("k3s.toml"), r.configMap().getData().get("lamina.toml"));
    assertThat(ConfigFile.read(file).values()).containsEntry("containerd-address", k3s);
    assertThat(mounts(container(pod(r), "lamina")).get(k3s).getName()).isEqualTo("containerd-socket");
    Path own = Files.writeString(dir.resolve("own.toml"),
        Chart.render("containerd.socket", k3s, "config.containerd-address", "/elsewhere.sock").configMap().getData()
            .get("lamina.toml"));
    assertThat(ConfigFile.read(own).values()).containsEntry("containerd-address", "/elsewhere.sock");
    assertThat(Main.run("config", "check", own.toString())).isZero();
  }

  @Test
  void configValuesOfEveryKindBecomeTomlKeysServeAccepts() throws Exception {
    String toml = Chart.render(
        "config.layers-per-pull", 5,
        "config.drop-compressed-layers", true,
        "config.gunzip", "builtin",
        "config.differ[0]", "walking",
        "config.snapshotter-name", "null", // deleted: the table below names it
        "config.snapshotter.name", "lamina").configMap().getData().get("lamina.toml");
    Path file = Files.writeString(dir.resolve("lamina.toml"), toml);
    assertThat(toml).contains("\n[snapshotter]\nname = \"lamina\"\n").doesNotContain("snapshotter-name");
    assertThat(ConfigFile.read(file).values())
        .containsEntry("layers-per-pull", 5L)
        .containsEntry("drop-compressed-layers", true)
        .containsEntry("gunzip", "builtin")
        .containsEntry("differ", List.of("walking"))
        .containsEntry("snapshotter-name", "lamina");
    assertThat(Main.run("config", "check", file.toString())).isZero();
  }

  @Test
  void aKeySetTwiceOrUnknownRendersButServeRefusesIt() throws Exception {
    Path twice = Files.writeString(dir.resolve("twice.toml"),
        Chart.render("config.snapshotter.name", "other").configMap().getData().get("lamina.toml"));
    assertThat(Main.run("config", "check", twice.toString())).isEqualTo(1);
    Path unknown = Files.writeString(dir.resolve("unknown.toml"),
        Chart.render("config.layers-per-pul", 2).configMap().getData().get("lamina.toml"));
    assertThat(Main.run("config", "check", unknown.toString())).isEqualTo(1);
  }

  @Test
  void theHostUnitRunsTheInstalledLaminaWithTheConfigBeforeKubelet() {
    String unit = Chart.render().configMap().getData().get("lamina.service");
    assertThat(unit)
        .contains("\nBefore=kubelet.service containerd.service\n")
        .contains("\nExecStart=/opt/lamina/current/bin/lamina serve --config /etc/lamina/lamina.toml "
            + "--metrics-address=0.0.0.0:9464 --kubeconfig=/etc/lamina/kubeconfig\n")
        .contains("\nEnvironment=NODE_NAME=@NODE_NAME@\n")
        .contains("while [ ! -S /run/lamina/lamina.sock ]")
        .contains("\nRestart=always\n")
        .contains("\nWantedBy=multi-user.target\n");
    String custom = Chart.render("host.installDir", "/usr/local/lamina", "host.configDir", "/etc/lamina-x",
        "metrics.enabled", false, "extraArgs[0]", "--gunzip=builtin").configMap().getData().get("lamina.service");
    assertThat(custom).contains("\nExecStart=/usr/local/lamina/current/bin/lamina serve --config "
        + "/etc/lamina-x/lamina.toml --gunzip=builtin\n");
  }

  @Test
  void podModeRunsLaminaInTheContainerWithoutTheHostInstall() {
    Chart.Rendered r = Chart.render("mode", "pod", "extraArgs[0]", "--gunzip=builtin");
    PodSpec pod = pod(r);
    Container main = container(pod, "lamina");
    assertThat(main.getCommand()).containsExactly("/bin/bash", "/etc/lamina-chart/node-setup.sh", "serve");
    assertThat(main.getArgs()).containsExactly("--metrics-address=0.0.0.0:9464", "--gunzip=builtin");
    assertThat(pod.getHostPID()).isFalse();
    assertThat(volumes(pod)).doesNotContainKeys("install", "config", "systemd");
    assertThat(mounts(main).get("/var/lib/lamina").getMountPropagation()).isEqualTo("Bidirectional");
    assertThat(env(main).get("MODE").getValue()).isEqualTo("pod");
  }

  @Test
  void metricsOffDropsPortProbesAndService() {
    Chart.Rendered r = Chart.render("metrics.enabled", false);
    Container main = container(pod(r), "lamina");
    assertThat(main.getPorts()).isEmpty();
    assertThat(main.getLivenessProbe()).isNull();
    assertThat(main.getReadinessProbe()).isNull();
    assertThat(r.kinds()).doesNotContain("Service", "ServiceMonitor", "PrometheusRule");
  }

  @Test
  void nodeOptionsReachTheSetupScript() {
    Chart.Rendered r = Chart.render("containerd.restart", true, "containerd.socket", "/run/k3s/containerd/containerd.sock",
        "containerd.configDir", "/var/lib/rancher/k3s/agent/etc/containerd", "kubelet.configure", true,
        "kubelet.restart", true, "image.tag", "1.2.3", "image.repository", "registry.example/lamina");
    PodSpec pod = pod(r);
    Map<String, EnvVar> env = env(container(pod, "node-setup"));
    assertThat(env.get("CONTAINERD_RESTART").getValue()).isEqualTo("true");
    assertThat(env.get("CONTAINERD_CONFIG").getValue()).isEqualTo("/var/lib/rancher/k3s/agent/etc/containerd/config.toml");
    assertThat(env.get("KUBELET_CONFIGURE").getValue()).isEqualTo("true");
    assertThat(env.get("KUBELET_RESTART").getValue()).isEqualTo("true");
    assertThat(env.get("VERSION").getValue()).isEqualTo("1.2.3");
    assertThat(container(pod, "lamina").getImage()).isEqualTo("registry.example/lamina:1.2.3");
    assertThat(volumes(pod).get("containerd-socket").getHostPath().getPath()).isEqualTo("/run/k3s/containerd/containerd.sock");
    assertThat(volumes(pod).get("kubelet-config").getHostPath().getPath()).isEqualTo("/var/lib/kubelet");
    assertThat(mounts(container(pod, "node-setup")).get("/host/var/lib/kubelet").getName()).isEqualTo("kubelet-config");
    assertThat(mounts(container(pod, "node-setup")).get("/run/k3s/containerd/containerd.sock").getName())
        .isEqualTo("containerd-socket");
  }

  @Test
  void aChangedConfigRollsThePods() {
    String a = Chart.render().daemonSet().getSpec().getTemplate().getMetadata().getAnnotations().get("checksum/config");
    String b = Chart.render("config.gunzip", "builtin").daemonSet().getSpec().getTemplate().getMetadata()
        .getAnnotations().get("checksum/config");
    assertThat(a).isNotBlank().isNotEqualTo(b);
  }

  @Test
  void serviceMonitorAndPrometheusRuleOnRequest() throws Exception {
    Chart.Rendered r = Chart.render("metrics.serviceMonitor.enabled", true, "metrics.serviceMonitor.labels.release",
        "prom", "metrics.prometheusRule.enabled", true, "metrics.prometheusRule.writableLayerGiB", 20);
    GenericKubernetesResource monitor = r.find(GenericKubernetesResource.class, "ServiceMonitor").orElseThrow();
    assertThat(monitor.getApiVersion()).isEqualTo("monitoring.coreos.com/v1");
    assertThat(monitor.getMetadata().getLabels()).containsEntry("release", "prom");
    assertThat(Serialization.asJson(monitor.getAdditionalProperties().get("spec")))
        .contains("\"port\":\"metrics\"").contains("\"path\":\"/metrics\"");
    GenericKubernetesResource rule = r.find(GenericKubernetesResource.class, "PrometheusRule").orElseThrow();
    String groups = Serialization.asYaml(rule.getAdditionalProperties().get("spec"));
    assertThat(groups).contains("lamina_container_rw_bytes > 20 * 1024 * 1024 * 1024");

    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/promtool")), "promtool not installed (apt-get install prometheus)");
    Path rules = Files.writeString(dir.resolve("rules.yaml"), groups);
    Process p = new ProcessBuilder("/usr/bin/promtool", "check", "rules", rules.toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as(out).isZero();
    assertThat(out).contains("SUCCESS: 2 rules found");
  }

  @ParameterizedTest(name = "{0}={1}")
  @CsvSource(delimiter = '|', value = {
      "containerd.socket|''|containerd.socket",
      "containerd.socket|relative.sock|containerd.socket",
      "host.mountPropagation|Sideways|mountPropagation",
      "mode|vm|mode",
      "metrics.port|70000|metrics.port",
      "config.root|/srv/lamina|config.root",
      "config.socket|/var/run/other/lamina.sock|config.socket",
      "extraArgs[0]|-x|extraArgs",
      "config.Root|/x|Root",
  })
  void badValuesFailNamingTheValue(String key, String value, String named) {
    assertThatThrownBy(() -> Chart.render(key, value))
        .hasMessageContaining(named);
  }

  @Test
  void kubeletNeedsSystemdMode() {
    assertThatThrownBy(() -> Chart.render("mode", "pod", "kubelet.configure", true))
        .hasMessageContaining("kubelet.configure needs mode=systemd");
  }
}
