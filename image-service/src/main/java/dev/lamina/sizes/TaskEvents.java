package dev.lamina.sizes;

import java.util.Set;

/**
 * What containerd's task events say about containers, for their sizes: a container whose task
 * (its init process) has exited cannot write into its root filesystem until a task starts again.
 */
public interface TaskEvents {
  /** Events are heard from now on; any from before, or from a stream that broke, may be missed. */
  void listening();

  /** A task of {@code container} started. */
  void started(ContainerKey container);

  /** The task of {@code container} exited: its init process, and so every process in it. */
  void exited(ContainerKey container);

  /**
   * The containers of {@code namespace} that have a task that may run ({@code live}), listed
   * after {@link #listening} while the events were heard: every other container there has none.
   */
  void running(String namespace, Set<String> live);

  TaskEvents NONE = new TaskEvents() {
    @Override
    public void listening() {}

    @Override
    public void started(ContainerKey container) {}

    @Override
    public void exited(ContainerKey container) {}

    @Override
    public void running(String namespace, Set<String> live) {}
  };

  /** A source of task events, such as containerd's event stream, that reports them to one listener. */
  interface Source {
    void listenToTasks(TaskEvents events);
  }
}
