package dev.lamina.oci;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import java.util.List;
import java.util.Map;

/**
 * The parts of an image config ({@code application/vnd.oci.image.config.v1+json} or Docker's {@code
 * application/vnd.docker.container.image.v1+json}) that a node needs.
 *
 * @param architecture e.g. {@code amd64}
 * @param os e.g. {@code linux}
 * @param variant e.g. {@code v8}; empty when none
 * @param osVersion empty when none
 * @param created RFC 3339 creation time; empty when none
 * @param author empty when none
 * @param config the execution parameters
 * @param rootfs the layers' diff IDs, base first
 * @param history the build history
 */
public record ImageConfig(
    String architecture,
    String os,
    String variant,
    String osVersion,
    String created,
    String author,
    Config config,
    RootFs rootfs,
    List<History> history) {
  public ImageConfig {
    history = List.copyOf(history);
  }

  /** The platform this image was built for. */
  public Platform platform() {
    return new Platform(os, architecture, variant, osVersion);
  }

  /**
   * Parses and validates a config: {@code rootfs.type} must be {@code layers} and every diff ID a
   * valid digest.
   *
   * @throws LaminaException INVALID_ARGUMENT naming the config and the field
   */
  public static ImageConfig parse(Digest digest, byte[] json) throws LaminaException {
    Json j = new Json("image config " + digest);
    JsonNode root = j.object(j.read(json), "");
    JsonNode c = root.path("config");
    Config config =
        new Config(
            j.text(c, "User"),
            j.strings(c, "Env"),
            j.strings(c, "Entrypoint"),
            j.strings(c, "Cmd"),
            j.text(c, "WorkingDir"),
            j.stringMap(c, "Labels"),
            j.text(c, "StopSignal"),
            j.keys(c, "ExposedPorts"),
            j.keys(c, "Volumes"));
    JsonNode r = root.get("rootfs");
    if (r == null || !r.isObject()) {
      throw j.invalid("rootfs", "missing");
    }
    String type = j.text(r, "type");
    if (!type.equals("layers")) {
      throw j.invalid("rootfs.type", "is \"" + type + "\", want \"layers\"");
    }
    JsonNode ids = r.get("diff_ids");
    if (ids == null || !ids.isArray()) {
      throw j.invalid("rootfs.diff_ids", "missing");
    }
    if (ids.size() > Limits.MAX_ENTRIES) {
      throw j.invalid("rootfs.diff_ids", "more than " + Limits.MAX_ENTRIES + " entries");
    }
    List<Digest> diffIds = new java.util.ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      diffIds.add(j.digest(ids.get(i), "rootfs.diff_ids[" + i + "]"));
    }
    List<History> history = new java.util.ArrayList<>();
    JsonNode h = root.path("history");
    if (h.isArray()) {
      for (JsonNode e : h) {
        history.add(
            new History(
                j.text(e, "created"),
                j.text(e, "created_by"),
                j.text(e, "author"),
                j.text(e, "comment"),
                e.path("empty_layer").asBoolean(false)));
      }
    }
    return new ImageConfig(
        j.text(root, "architecture"),
        j.text(root, "os"),
        j.text(root, "variant"),
        j.text(root, "os.version"),
        j.text(root, "created"),
        j.text(root, "author"),
        config,
        new RootFs(type, diffIds),
        history);
  }

  /**
   * Execution parameters ({@code config} in the JSON).
   *
   * @param user {@code User}: {@code uid}, {@code name}, {@code uid:gid} ...; empty for root
   * @param env {@code Env}
   * @param entrypoint {@code Entrypoint}
   * @param cmd {@code Cmd}
   * @param workingDir {@code WorkingDir}
   * @param labels {@code Labels}
   * @param stopSignal {@code StopSignal}
   * @param exposedPorts the keys of {@code ExposedPorts}
   * @param volumes the keys of {@code Volumes}
   */
  public record Config(
      String user,
      List<String> env,
      List<String> entrypoint,
      List<String> cmd,
      String workingDir,
      Map<String, String> labels,
      String stopSignal,
      List<String> exposedPorts,
      List<String> volumes) {
    public Config {
      env = List.copyOf(env);
      entrypoint = List.copyOf(entrypoint);
      cmd = List.copyOf(cmd);
      labels = Map.copyOf(labels);
      exposedPorts = List.copyOf(exposedPorts);
      volumes = List.copyOf(volumes);
    }
  }

  /**
   * @param type always {@code layers}
   * @param diffIds the digests of the uncompressed layers, base first
   */
  public record RootFs(String type, List<Digest> diffIds) {
    public RootFs {
      diffIds = List.copyOf(diffIds);
    }
  }

  /** One build step. */
  public record History(
      String created, String createdBy, String author, String comment, boolean emptyLayer) {}
}
