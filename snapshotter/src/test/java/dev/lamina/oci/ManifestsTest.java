package dev.lamina.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ManifestsTest {
  private static final Descriptor CONFIG = Fixtures.desc(MediaTypes.DOCKER_CONFIG, Fixtures.utf8("{}"));
  private static final Descriptor LAYER = Fixtures.desc(MediaTypes.DOCKER_LAYER_GZIP, Fixtures.bytes(10, 1));

  private static Descriptor of(String type, byte[] b) {
    return Fixtures.desc(type, b);
  }

  @Test
  void parsesADockerManifest() throws Exception {
    byte[] m = Fixtures.manifest(MediaTypes.DOCKER_MANIFEST, CONFIG, List.of(LAYER));
    ManifestDocument doc = Manifests.parse(of(MediaTypes.DOCKER_MANIFEST, m), m);
    assertThat(doc).isInstanceOf(Manifest.class);
    Manifest man = (Manifest) doc;
    assertThat(man.config()).isEqualTo(CONFIG);
    assertThat(man.layers()).containsExactly(LAYER);
    assertThat(man.descriptor().mediaType()).isEqualTo(MediaTypes.DOCKER_MANIFEST);
  }

  @Test
  void parsesAnIndexWithPlatformsAndAnnotations() throws Exception {
    byte[] idx = Fixtures.utf8("""
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
         "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
           "digest":"%s","size":7,"platform":{"architecture":"arm","os":"linux","variant":"v7"},
           "annotations":{"k":"v"},"urls":["https://example.com/x"]}]}
        """.formatted(LAYER.digest()));
    Index index = (Index) Manifests.parse(of("", idx), idx);
    assertThat(index.descriptor().mediaType()).isEqualTo(MediaTypes.DOCKER_MANIFEST_LIST);
    Descriptor e = index.manifests().get(0);
    assertThat(e.platform()).isEqualTo(Platform.of("linux", "arm", "v7"));
    assertThat(e.annotations()).containsEntry("k", "v");
    assertThat(e.urls()).containsExactly("https://example.com/x");
  }

  @Test
  void infersTheTypeFromTheShapeWhenNothingSaysIt() throws Exception {
    byte[] m = Fixtures.utf8("{\"schemaVersion\":2,\"config\":" + Fixtures.descJson(CONFIG) + ",\"layers\":[]}");
    assertThat(Manifests.parse(of("application/json", m), m).descriptor().mediaType()).isEqualTo(MediaTypes.OCI_MANIFEST);
    byte[] i = Fixtures.utf8("{\"schemaVersion\":2,\"manifests\":[]}");
    assertThat(Manifests.parse(of("", i), i).descriptor().mediaType()).isEqualTo(MediaTypes.OCI_INDEX);
  }

  @Test
  void refusesSchema1() {
    byte[] s1 = Fixtures.utf8("{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"y\",\"fsLayers\":[]}");
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> Manifests.parse(of("", s1), s1));
    assertThat(e.kind()).isEqualTo(ErrorKind.NOT_IMPLEMENTED);
    assertThat(e.getMessage()).contains("schema 1").contains("re-push");
    LaminaException e2 = catchThrowableOfType(LaminaException.class, () -> Manifests.parse(of(MediaTypes.DOCKER_SCHEMA1_SIGNED, s1), s1));
    assertThat(e2.kind()).isEqualTo(ErrorKind.NOT_IMPLEMENTED);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "not json | nope | not JSON",
      "array | [] | want a JSON object",
      "schema 3 | {\"schemaVersion\":3,\"manifests\":[]} | schemaVersion",
      "no schema | {\"manifests\":[]} | schemaVersion",
      "unknown type | {\"schemaVersion\":2,\"mediaType\":\"text/html\",\"manifests\":[]} | unsupported manifest media type",
      "ambiguous | {\"schemaVersion\":2,\"manifests\":[],\"layers\":[]} | ambiguous",
      "no config | {\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"layers\":[]} | config",
      "bad digest | {\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:xyz\",\"size\":1}]} | manifests[0].digest",
      "negative size | {\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + "0000000000000000000000000000000000000000000000000000000000000000" + "\",\"size\":-1}]} | manifests[0].size",
      "fractional size | {\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + "0000000000000000000000000000000000000000000000000000000000000000" + "\",\"size\":1.5}]} | manifests[0].size",
      "no media type | {\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:" + "0000000000000000000000000000000000000000000000000000000000000000" + "\",\"size\":1}]} | manifests[0].mediaType",
      "platform without arch | {\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:" + "0000000000000000000000000000000000000000000000000000000000000000" + "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]} | platform",
      "layers not array | {\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},\"layers\":{}} | config",
  })
  void rejectsMalformedDocuments(String name, String json, String message) {
    byte[] b = Fixtures.utf8(json);
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> Manifests.parse(of("", b), b));
    assertThat(e).as(name).isNotNull();
    assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
    assertThat(e.getMessage()).contains(message).contains(Digest.sha256Of(b).toString());
  }

  @Test
  void servedTypeMustMatchTheDeclaredOne() {
    byte[] m = Fixtures.manifest(MediaTypes.OCI_MANIFEST, CONFIG, List.of());
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> Manifests.parse(of(MediaTypes.DOCKER_MANIFEST, m), m));
    assertThat(e.getMessage()).contains("was served as");
  }

  @Test
  void parsesAndValidatesConfigs() throws Exception {
    byte[] c = Fixtures.config(List.of(LAYER.digest()), "arm64");
    ImageConfig cfg = ImageConfig.parse(Digest.sha256Of(c), c);
    assertThat(cfg.platform()).isEqualTo(Platform.of("linux", "arm64"));
    assertThat(cfg.rootfs().diffIds()).containsExactly(LAYER.digest());
    assertThat(cfg.config().user()).isEqualTo("1000:1000");
    assertThat(cfg.config().env()).containsExactly("PATH=/bin");
    assertThat(cfg.config().exposedPorts()).containsExactly("80/tcp");
    assertThat(cfg.config().labels()).containsEntry("a", "b");
    assertThat(cfg.history()).hasSize(1);

    byte[] bad = Fixtures.utf8("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:nope\"]}}");
    assertThat(catchThrowableOfType(LaminaException.class, () -> ImageConfig.parse(Digest.sha256Of(bad), bad))
        .getMessage()).contains("rootfs.diff_ids[0]");
    byte[] type = Fixtures.utf8("{\"rootfs\":{\"type\":\"squash\",\"diff_ids\":[]}}");
    assertThat(catchThrowableOfType(LaminaException.class, () -> ImageConfig.parse(Digest.sha256Of(type), type))
        .getMessage()).contains("rootfs.type");
  }
}
