package dev.lamina.kube;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP relay on 127.0.0.1 to another port that can drop every connection through it and hold
 * new ones for a while: an API server's watch that breaks, as a node's network does. It can also
 * silence the connections open now, which stay open but carry nothing more either way, as behind
 * a NAT or load balancer that forgot them, while new connections go through.
 */
public final class DroppingRelay implements AutoCloseable {
  private final ServerSocket listener;
  private final int target;
  private final List<Socket> open = new CopyOnWriteArrayList<>();
  private final Set<Socket> silenced = ConcurrentHashMap.newKeySet();
  // guarded by this: a connection is let through and registered in one step, so a drop either
  // closes it or holds it, never misses it
  private boolean refusing;

  DroppingRelay(int target) throws IOException {
    this.target = target;
    this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::accept, "relay-accept");
    t.setDaemon(true);
    t.start();
  }

  public int port() {
    return listener.getLocalPort();
  }

  /** Closes every connection, and holds new ones unconnected until {@link #resume}. */
  public synchronized void drop() {
    refusing = true;
    for (Socket s : open) {
      close(s);
    }
    open.clear();
  }

  /** The connections open now carry nothing more, and are never closed by the relay; new ones flow. */
  public synchronized void silence() {
    silenced.addAll(open);
    open.clear();
  }

  public synchronized void resume() {
    refusing = false;
    notifyAll();
  }

  private void accept() {
    while (!listener.isClosed()) {
      try {
        Socket client = listener.accept();
        synchronized (this) {
          while (refusing && !listener.isClosed()) {
            wait(100); // the network is down: the connection waits
          }
          Socket server = new Socket();
          server.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), target));
          open.add(client);
          open.add(server);
          pump(client, server);
          pump(server, client);
        }
      } catch (IOException e) {
        // closed, or the target refused: the client sees a closed connection
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void pump(Socket from, Socket to) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[16 * 1024];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        for (int n; (n = in.read(buf)) >= 0; ) {
          if (silenced.contains(from)) {
            continue; // swallowed: the peer hears nothing, and nothing tells it so
          }
          out.write(buf, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // dropped
      } finally {
        close(from);
        close(to);
      }
    }, "relay-pump");
    t.setDaemon(true);
    t.start();
  }

  private static void close(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // already closed
    }
  }

  @Override
  public void close() throws IOException {
    listener.close();
    drop();
    for (Socket s : silenced) {
      close(s);
    }
  }
}
