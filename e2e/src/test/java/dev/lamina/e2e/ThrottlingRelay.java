package dev.lamina.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * A TCP relay on {@code 127.0.0.1} in front of another loopback port that lets what flows back to
 * the client through at a fixed rate per connection, so that a download can be caught in the
 * middle. It counts the bytes it sent to clients and keeps the heads of the plain HTTP requests
 * clients sent. When the upstream side closes or cannot be reached, the client's connection is
 * closed, as a registry that dies would close it.
 */
final class ThrottlingRelay implements AutoCloseable {
  private static final int CHUNK = 16 * 1024;
  private static final Pattern REQUEST_LINE = Pattern.compile("[A-Z]+ \\S+ HTTP/1\\.[01]");

  private final int upstreamPort;
  private final long bytesPerSecond;
  private final ServerSocket server;
  private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
  private final AtomicLong toClients = new AtomicLong();
  private final List<String> heads = new CopyOnWriteArrayList<>();
  private volatile boolean closed;

  private ThrottlingRelay(int upstreamPort, long bytesPerSecond) throws IOException {
    this.upstreamPort = upstreamPort;
    this.bytesPerSecond = bytesPerSecond;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    daemon(this::acceptLoop, "relay-accept").start();
  }

  /** Relays {@code 127.0.0.1:<port()>} to {@code 127.0.0.1:upstreamPort}. */
  static ThrottlingRelay start(int upstreamPort, long bytesPerSecond) throws IOException {
    return new ThrottlingRelay(upstreamPort, bytesPerSecond);
  }

  /** {@code 127.0.0.1:port}. */
  String host() {
    return "127.0.0.1:" + server.getLocalPort();
  }

  /** Bytes sent to clients so far, over every connection. */
  long bytesToClients() {
    return toClients.get();
  }

  /** The head (request line and headers) of every HTTP request relayed, in order. */
  List<String> requestHeads() {
    return List.copyOf(heads);
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        return; // closed
      }
      sockets.add(client);
      Socket upstream = new Socket();
      try {
        upstream.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), upstreamPort), 2000);
      } catch (IOException refused) {
        // nobody home: the client sees its connection closed before any answer
        closeQuietly(client);
        closeQuietly(upstream);
        continue;
      }
      sockets.add(upstream);
      daemon(() -> requests(client, upstream), "relay-up").start();
      daemon(() -> responses(upstream, client), "relay-down").start();
    }
  }

  /** Client to upstream, as fast as it comes; request heads are recorded on the way. */
  private void requests(Socket client, Socket upstream) {
    StringBuilder pending = new StringBuilder();
    byte[] buf = new byte[CHUNK];
    try (InputStream in = client.getInputStream(); OutputStream out = upstream.getOutputStream()) {
      int n;
      while ((n = in.read(buf)) >= 0) {
        out.write(buf, 0, n);
        out.flush();
        pending.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
        int end;
        while ((end = pending.indexOf("\r\n\r\n")) >= 0) {
          String head = pending.substring(0, end);
          pending.delete(0, end + 4);
          if (REQUEST_LINE.matcher(head.lines().findFirst().orElse("")).matches()) {
            heads.add(head);
          }
        }
        if (pending.length() > 1 << 16) {
          pending.setLength(0); // not HTTP (a TLS probe): nothing to record
        }
      }
    } catch (IOException e) {
      // either side went away
    } finally {
      closeQuietly(client);
      closeQuietly(upstream);
    }
  }

  /** Upstream to client, paced to {@code bytesPerSecond}. */
  private void responses(Socket upstream, Socket client) {
    byte[] buf = new byte[CHUNK];
    long due = System.nanoTime();
    try (InputStream in = upstream.getInputStream(); OutputStream out = client.getOutputStream()) {
      int n;
      while ((n = in.read(buf)) >= 0) {
        out.write(buf, 0, n);
        out.flush();
        toClients.addAndGet(n);
        due = Math.max(due, System.nanoTime()) + TimeUnit.SECONDS.toNanos(n) / bytesPerSecond;
        long wait = due - System.nanoTime();
        if (wait > 0) {
          TimeUnit.NANOSECONDS.sleep(wait);
        }
      }
    } catch (IOException | InterruptedException e) {
      // either side went away, or the relay closed
    } finally {
      closeQuietly(upstream);
      closeQuietly(client);
    }
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  private void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
    sockets.remove(s);
  }

  @Override
  public void close() {
    closed = true;
    try {
      server.close();
    } catch (IOException e) {
      // closing anyway
    }
    for (Socket s : sockets) {
      closeQuietly(s);
    }
  }
}
