package dev.lamina.sizes;

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

  TaskEvents NONE = new TaskEvents() {
    @Override
    public void listening() {}

    @Override
    public void started(ContainerKey container) {}

    @Override
    public void exited(ContainerKey container) {}
  };

  /** A source of task events, such as containerd's event stream, that reports them to one listener. */
  interface Source {
    void listenToTasks(TaskEvents events);
  }
}
