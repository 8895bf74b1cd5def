package dev.lamina.cri;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.digest.Digest;
import dev.lamina.images.FilesystemUsage;
import dev.lamina.images.ImageRecord;
import dev.lamina.oci.ImageConfig;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Translations from lamina's image records to CRI messages, as containerd's CRI plugin makes them. */
final class CriImages {
  /** The key of the verbose {@code ImageStatus} info, as containerd and CRI-O name it. */
  static final String INFO_KEY = "info";

  private static final ObjectMapper JSON = new ObjectMapper();

  private CriImages() {}

  /** The user an image runs as: a numeric uid or a user name, never both; neither when unset. */
  record User(Long uid, String username) {
    static final User UNSET = new User(null, "");
  }

  /**
   * containerd's {@code getUserFromImage}: the part before a {@code :} is the user; a number is a
   * uid ({@code 1000}, {@code 1000:1000}), anything else a user name ({@code nobody},
   * {@code nobody:nogroup}). An empty {@code User} sets neither (it does not mean uid 0 here: the
   * runtime applies its own default).
   */
  static User user(String configUser) {
    if (configUser == null || configUser.isEmpty()) {
      return User.UNSET;
    }
    int colon = configUser.indexOf(':');
    String user = colon >= 0 ? configUser.substring(0, colon) : configUser;
    try {
      return new User(Long.parseLong(user), "");
    } catch (NumberFormatException e) {
      return new User(null, user);
    }
  }

  static Api.Image toCri(ImageRecord r) {
    Api.Image.Builder b = Api.Image.newBuilder()
        .setId(r.id().toString())
        .addAllRepoTags(r.repoTags())
        .addAllRepoDigests(r.repoDigests())
        // CRI: "Must be > 0"; an image whose layers hold no bytes at all still reports 1.
        .setSize(Math.max(1, r.size()))
        .setPinned(r.pinned());
    User u = user(r.config() == null || r.config().config() == null ? "" : r.config().config().user());
    if (u.uid() != null) {
      b.setUid(Api.Int64Value.newBuilder().setValue(u.uid()));
    }
    b.setUsername(u.username());
    return b.build();
  }

  /**
   * The verbose info of {@code ImageStatus}: one key, {@value #INFO_KEY}, holding JSON. Its
   * {@code chainID} (the top layer's) and {@code imageSpec} (the OCI image config, field names as
   * in the image-spec) are what containerd returns; {@code chainIDs}, {@code manifestDigest} and
   * {@code pinned} are lamina's additions.
   */
  static Map<String, String> verboseInfo(ImageRecord r) {
    ObjectNode info = JSON.createObjectNode();
    List<Digest> chain = r.chainIds();
    info.put("chainID", chain.isEmpty() ? "" : chain.get(chain.size() - 1).toString());
    if (r.config() != null) {
      info.set("imageSpec", imageSpec(r.config()));
    }
    ArrayNode ids = info.putArray("chainIDs");
    chain.forEach(d -> ids.add(d.toString()));
    if (r.manifestDigest() != null) {
      info.put("manifestDigest", r.manifestDigest().toString());
    }
    info.put("pinned", r.pinned());
    return Map.of(INFO_KEY, info.toString());
  }

  /** The OCI image config as JSON, empty fields left out as Go's {@code omitempty} does. */
  static ObjectNode imageSpec(ImageConfig c) {
    ObjectNode o = JSON.createObjectNode();
    putIfSet(o, "created", c.created());
    putIfSet(o, "author", c.author());
    o.put("architecture", nz(c.architecture()));
    o.put("os", nz(c.os()));
    putIfSet(o, "os.version", c.osVersion());
    putIfSet(o, "variant", c.variant());
    ObjectNode config = o.putObject("config");
    ImageConfig.Config x = c.config();
    if (x != null) {
      putIfSet(config, "User", x.user());
      if (!x.exposedPorts().isEmpty()) {
        ObjectNode ports = config.putObject("ExposedPorts");
        x.exposedPorts().forEach(p -> ports.putObject(p));
      }
      strings(config, "Env", x.env());
      strings(config, "Entrypoint", x.entrypoint());
      strings(config, "Cmd", x.cmd());
      if (!x.volumes().isEmpty()) {
        ObjectNode volumes = config.putObject("Volumes");
        x.volumes().forEach(v -> volumes.putObject(v));
      }
      putIfSet(config, "WorkingDir", x.workingDir());
      if (!x.labels().isEmpty()) {
        ObjectNode labels = config.putObject("Labels");
        new TreeMap<>(x.labels()).forEach(labels::put);
      }
      putIfSet(config, "StopSignal", x.stopSignal());
    }
    ObjectNode rootfs = o.putObject("rootfs");
    rootfs.put("type", c.rootfs() == null ? "layers" : c.rootfs().type());
    ArrayNode diffIds = rootfs.putArray("diff_ids");
    if (c.rootfs() != null) {
      c.rootfs().diffIds().forEach(d -> diffIds.add(d.toString()));
    }
    if (!c.history().isEmpty()) {
      ArrayNode history = o.putArray("history");
      for (ImageConfig.History h : c.history()) {
        ObjectNode e = history.addObject();
        putIfSet(e, "created", h.created());
        putIfSet(e, "created_by", h.createdBy());
        putIfSet(e, "author", h.author());
        putIfSet(e, "comment", h.comment());
        if (h.emptyLayer()) {
          e.put("empty_layer", true);
        }
      }
    }
    return o;
  }

  static Api.FilesystemUsage toCri(FilesystemUsage u) {
    return Api.FilesystemUsage.newBuilder()
        .setTimestamp(nanos(u.timestamp()))
        .setFsId(Api.FilesystemIdentifier.newBuilder().setMountpoint(u.mountpoint().toString()))
        .setUsedBytes(Api.UInt64Value.newBuilder().setValue(Math.max(0, u.usedBytes())))
        .setInodesUsed(Api.UInt64Value.newBuilder().setValue(Math.max(0, u.inodesUsed())))
        .build();
  }

  /** Nanoseconds since the epoch; CRI wants a timestamp > 0, so an unknown one is now. */
  static long nanos(Instant t) {
    Instant at = t == null || !t.isAfter(Instant.EPOCH) ? Instant.now() : t;
    return Math.multiplyExact(at.getEpochSecond(), 1_000_000_000L) + at.getNano();
  }

  private static void strings(ObjectNode o, String name, List<String> values) {
    if (!values.isEmpty()) {
      ArrayNode a = o.putArray(name);
      values.forEach(a::add);
    }
  }

  private static void putIfSet(ObjectNode o, String name, String value) {
    if (value != null && !value.isEmpty()) {
      o.put(name, value);
    }
  }

  private static String nz(String s) {
    return s == null ? "" : s;
  }
}
