package dev.lamina.helm;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The chart in {@code helm/lamina}, rendered by Helm's own library with {@code --set} values. */
public final class Chart {
  public static final String RELEASE = "lamina";
  public static final String NAMESPACE = "lamina-system";

  private Chart() {}

  /** {@code helm/lamina}, found from the module or the project directory. */
  public static Path dir() {
    for (Path p : List.of(Path.of("lamina"), Path.of("helm/lamina"), Path.of("../helm/lamina"))) {
      if (Files.isRegularFile(p.resolve("Chart.yaml"))) {
        return p.toAbsolutePath();
      }
    }
    throw new IllegalStateException("helm/lamina not found from " + Path.of("").toAbsolutePath());
  }

  /** The manifests {@code helm template} renders with {@code values} ({@code key=value} as --set). */
  public static Rendered render(Map<String, Object> values) {
    TemplateCommand template = new Helm(dir()).template().withName(RELEASE).withNamespace(NAMESPACE);
    values.forEach(template::set);
    return new Rendered(template.call());
  }

  public static Rendered render(Object... keysAndValues) {
    Map<String, Object> values = new LinkedHashMap<>();
    for (int i = 0; i < keysAndValues.length; i += 2) {
      values.put((String) keysAndValues[i], keysAndValues[i + 1]);
    }
    return render(values);
  }

  /** The text helm printed and its documents as fabric8 objects. */
  public record Rendered(String yaml, List<HasMetadata> objects) {
    Rendered(String yaml) {
      this(yaml, parse(yaml));
    }

    private static List<HasMetadata> parse(String yaml) {
      List<HasMetadata> objects = new ArrayList<>();
      for (String doc : yaml.split("(?m)^---\\s*$")) {
        if (doc.lines().anyMatch(l -> !l.isBlank() && !l.startsWith("#"))) {
          objects.add(Serialization.unmarshal(doc, HasMetadata.class));
        }
      }
      return List.copyOf(objects);
    }

    public <T extends HasMetadata> Optional<T> find(Class<T> type, String kind) {
      return objects.stream().filter(o -> o.getKind().equals(kind)).map(type::cast).findFirst();
    }

    public <T extends HasMetadata> T get(Class<T> type) {
      return find(type, type.getSimpleName())
          .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " in:\n" + yaml));
    }

    public DaemonSet daemonSet() {
      return get(DaemonSet.class);
    }

    public ConfigMap configMap() {
      return get(ConfigMap.class);
    }

    public List<String> kinds() {
      return objects.stream().map(HasMetadata::getKind).toList();
    }
  }
}
