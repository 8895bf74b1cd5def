package dev.lamina.containerd;

import java.time.Duration;

/** What registration in containerd reports, for metrics: kept free of any metrics library. */
public interface RegistrationListener {
  RegistrationListener NONE = new RegistrationListener() {};

  /** A pulled image was registered, {@code lag} after its pull finished and asked for it. */
  default void registered(Duration lag) {}

  /** An image could not be registered (the next reconcile tries it again). */
  default void failed() {}

  /** {@code names} image records of lamina's were removed from containerd. */
  default void unregistered(int names) {}

  /** An image manager that registers in containerd, and reports it to a listener. */
  interface Source {
    void listen(RegistrationListener listener);
  }
}
