package dev.lamina.containerd;

import java.nio.file.Path;

/**
 * Where lamina registers its images: containerd's socket, the namespace kubelet's pods run in, and
 * the name containerd knows lamina's snapshotter by ({@code [proxy_plugins.NAME]}).
 */
public record ContainerdSettings(Path address, String namespace, String snapshotter) {}
