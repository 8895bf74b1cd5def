package dev.lamina.remotes;

import dev.lamina.digest.Digest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;

/** Test content: blobs, configs, manifests and indexes. */
final class Fixtures {
  private Fixtures() {}

  static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static Descriptor desc(String mediaType, byte[] content) {
    return Descriptor.of(mediaType, Digest.sha256Of(content), content.length);
  }

  static String descJson(Descriptor d) {
    return descJson(d, null);
  }

  static String descJson(Descriptor d, String platformJson) {
    return "{\"mediaType\":\"" + d.mediaType() + "\",\"digest\":\"" + d.digest() + "\",\"size\":" + d.size()
        + (platformJson == null ? "" : ",\"platform\":" + platformJson) + "}";
  }

  static byte[] config(List<Digest> diffIds, String arch) {
    return utf8("{\"architecture\":\"" + arch + "\",\"os\":\"linux\",\"config\":{\"User\":\"1000:1000\","
        + "\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"],\"Labels\":{\"a\":\"b\"},\"ExposedPorts\":{\"80/tcp\":{}}},"
        + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
        + diffIds.stream().map(d -> "\"" + d + "\"").collect(Collectors.joining(","))
        + "]},\"history\":[{\"created_by\":\"test\"}]}");
  }

  static byte[] manifest(String mediaType, Descriptor config, List<Descriptor> layers) {
    return utf8("{\"schemaVersion\":2,\"mediaType\":\"" + mediaType + "\",\"config\":" + descJson(config)
        + ",\"layers\":[" + layers.stream().map(Fixtures::descJson).collect(Collectors.joining(",")) + "]}");
  }

  static byte[] index(String mediaType, List<String> entries) {
    return utf8("{\"schemaVersion\":2,\"mediaType\":\"" + mediaType + "\",\"manifests\":["
        + String.join(",", entries) + "]}");
  }

  static String platform(String os, String arch, String variant) {
    return "{\"os\":\"" + os + "\",\"architecture\":\"" + arch + "\""
        + (variant == null ? "" : ",\"variant\":\"" + variant + "\"") + "}";
  }

  /** A hosts directory whose only entry sends {@code authority} to plain http. */
  static dev.lamina.remotes.hosts.HostsConfig plainHttp(Path dir, String authority) throws IOException {
    Path d = dir.resolve(authority);
    Files.createDirectories(d);
    Files.writeString(d.resolve("hosts.toml"), "server = \"http://" + authority + "\"\n");
    return dev.lamina.remotes.hosts.HostsConfig.directory(dir);
  }
}
