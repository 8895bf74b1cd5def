package dev.lamina.kube;

/**
 * One container of a pod on this node, as the API server reports it.
 *
 * @param namespace the pod's namespace
 * @param image the image the container runs, as in its status ({@code docker.io/library/nginx:1.27})
 */
public record PodContainer(String namespace, String pod, String container, String image) {}
