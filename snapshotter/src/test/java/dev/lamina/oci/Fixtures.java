package dev.lamina.oci;

import dev.lamina.digest.Digest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;

/** Test content: blobs, configs, manifests and indexes. */
public final class Fixtures {
  private Fixtures() {}

  public static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  public static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  public static Descriptor desc(String mediaType, byte[] content) {
    return Descriptor.of(mediaType, Digest.sha256Of(content), content.length);
  }

  public static String descJson(Descriptor d) {
    return descJson(d, null);
  }

  public static String descJson(Descriptor d, String platformJson) {
    return "{\"mediaType\":\"" + d.mediaType() + "\",\"digest\":\"" + d.digest() + "\",\"size\":" + d.size()
        + (platformJson == null ? "" : ",\"platform\":" + platformJson) + "}";
  }

  public static byte[] config(List<Digest> diffIds, String arch) {
    return utf8("{\"architecture\":\"" + arch + "\",\"os\":\"linux\",\"config\":{\"User\":\"1000:1000\","
        + "\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"],\"Labels\":{\"a\":\"b\"},\"ExposedPorts\":{\"80/tcp\":{}}},"
        + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
        + diffIds.stream().map(d -> "\"" + d + "\"").collect(Collectors.joining(","))
        + "]},\"history\":[{\"created_by\":\"test\"}]}");
  }

  public static byte[] manifest(String mediaType, Descriptor config, List<Descriptor> layers) {
    return utf8("{\"schemaVersion\":2,\"mediaType\":\"" + mediaType + "\",\"config\":" + descJson(config)
        + ",\"layers\":[" + layers.stream().map(Fixtures::descJson).collect(Collectors.joining(",")) + "]}");
  }

  public static byte[] index(String mediaType, List<String> entries) {
    return utf8("{\"schemaVersion\":2,\"mediaType\":\"" + mediaType + "\",\"manifests\":["
        + String.join(",", entries) + "]}");
  }

  public static String platform(String os, String arch, String variant) {
    return "{\"os\":\"" + os + "\",\"architecture\":\"" + arch + "\""
        + (variant == null ? "" : ",\"variant\":\"" + variant + "\"") + "}";
  }
}
