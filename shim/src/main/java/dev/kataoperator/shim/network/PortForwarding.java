package dev.kataoperator.shim.network;

import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.host.NativeSockets;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code kubectl port-forward} for a pod in a VM. containerd's CRI serves PortForward itself: it
 * enters the pod's network namespace on the host and dials {@code 127.0.0.1:<port>} there, but the
 * pod's listeners are in the guest. So the shim listens on 127.0.0.1 of that namespace, a netfilter
 * rule there redirects every other TCP connection to 127.0.0.1 to that listener, and each accepted
 * connection is carried to the same port on the guest's loopback through the agent (its original
 * port read back with SO_ORIGINAL_DST). Only QEMU runs in the namespace on the host, so nothing
 * else is redirected.
 */
public final class PortForwarding implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(PortForwarding.class.getName());

  /** Connections carried at once per pod; more are closed as they come. */
  static final int MAX_CONNECTIONS = 64;

  private static final int CHUNK = 64 << 10;

  /** The guest's side: the agent's port-forward calls. */
  public interface Guest {
    /** Connects to {@code port} on the guest's loopback; the connection's id. */
    String open(int port);

    /** Sends bytes; {@code len == 0} shuts the guest connection's write side. */
    void write(String id, byte[] data, int off, int len);

    /** Blocks for bytes from the guest; null at EOF. */
    byte[] read(String id, int maxBytes);

    void close(String id);

    /** The agent of the pod's VM. */
    static Guest through(AgentClient agent) {
      return new Guest() {
        @Override
        public String open(int port) {
          return agent.portForwardOpen(port);
        }

        @Override
        public void write(String id, byte[] data, int off, int len) {
          agent.portForwardWrite(id, data, off, len);
        }

        @Override
        public byte[] read(String id, int maxBytes) {
          var r = agent.portForwardRead(id, maxBytes);
          return r.getEof() && r.getData().isEmpty() ? null : r.getData().toByteArray();
        }

        @Override
        public void close(String id) {
          agent.portForwardClose(id);
        }
      };
    }
  }

  private final Path netns;
  private final NetnsRunner runner;
  private final Guest guest;
  private final int listenFd;
  private final int port;
  private final List<String> rule;
  private final Thread acceptor;
  private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
  private final AtomicInteger served = new AtomicInteger();
  private volatile boolean closed;

  private PortForwarding(Path netns, NetnsRunner runner, Guest guest, int listenFd, int port) {
    this.netns = netns;
    this.runner = runner;
    this.guest = guest;
    this.listenFd = listenFd;
    this.port = port;
    this.rule =
        List.of(
            "OUTPUT",
            "-o",
            "lo",
            "-d",
            "127.0.0.1/32",
            "-p",
            "tcp",
            "!",
            "--dport",
            Integer.toString(port),
            "-j",
            "REDIRECT",
            "--to-ports",
            Integer.toString(port));
    this.acceptor =
        Thread.ofPlatform()
            .daemon()
            .name("port-forward " + netns.getFileName())
            .unstarted(this::acceptLoop);
  }

  /**
   * Starts forwarding for the pod whose network namespace is {@code netns}.
   *
   * @throws NetworkException when the listener or the netfilter rule cannot be made (iptables
   *     missing, say); the pod runs without port forwarding then
   */
  public static PortForwarding start(Path netns, Guest guest) {
    return start(netns, new NsenterRunner(netns), guest);
  }

  static PortForwarding start(Path netns, NetnsRunner runner, Guest guest) {
    int fd;
    int port;
    try {
      fd = NativeSockets.listenOnLoopback(netns);
      port = NativeSockets.localPort(fd);
    } catch (IOException e) {
      throw new NetworkException(
          NetworkException.Reason.COMMAND_FAILED,
          "cannot listen on 127.0.0.1 in " + netns + " for port forwarding: " + e.getMessage(),
          e);
    }
    var pf = new PortForwarding(netns, runner, guest, fd, port);
    try {
      runner.run(pf.iptables("-A"));
    } catch (RuntimeException e) {
      NativeSockets.shutdown(fd, NativeSockets.SHUT_RDWR);
      NativeSockets.close(fd);
      throw e;
    }
    pf.acceptor.start();
    return pf;
  }

  private List<String> iptables(String op) {
    var argv = new ArrayList<>(List.of("iptables", "-w", "5", "-t", "nat", op));
    argv.addAll(rule);
    return argv;
  }

  /** The listener's port in the pod's namespace. */
  int port() {
    return port;
  }

  /** Connections accepted so far. */
  int served() {
    return served.get();
  }

  private void acceptLoop() {
    while (!closed) {
      int fd;
      try {
        fd = NativeSockets.accept(listenFd);
      } catch (IOException e) {
        if (!closed) {
          LOG.log(Level.WARNING, "port forwarding in " + netns + " stopped: " + e.getMessage());
        }
        return;
      }
      served.incrementAndGet();
      if (closed || connections.size() >= MAX_CONNECTIONS) {
        LOG.log(Level.WARNING, "port forwarding in {0}: too many connections, refusing one", netns);
        NativeSockets.close(fd);
        continue;
      }
      Thread.ofPlatform().daemon().name("port-forward-open").start(() -> serve(fd));
    }
  }

  private void serve(int fd) {
    int target;
    String id;
    try {
      target = NativeSockets.originalPort(fd);
      id = guest.open(target);
    } catch (IOException | RuntimeException e) {
      // The client sees its connection close at once, as with nothing listening.
      LOG.log(Level.INFO, "port forwarding in " + netns + ": " + e.getMessage());
      NativeSockets.close(fd);
      return;
    }
    var c = new Connection(fd, id);
    connections.add(c);
    if (closed) {
      c.abort();
    }
    Thread.ofPlatform().daemon().name("port-forward-out " + target).start(c::toGuest);
    c.toHost();
  }

  /** One forwarded connection: two pumps; the last one to finish closes both ends. */
  private final class Connection {
    final int fd;
    final String id;
    final AtomicInteger running = new AtomicInteger(2);

    Connection(int fd, String id) {
      this.fd = fd;
      this.id = id;
    }

    /** Host client -> guest. */
    void toGuest() {
      byte[] buf = new byte[CHUNK];
      try {
        int n;
        while ((n = NativeSockets.read(fd, buf)) > 0) {
          guest.write(id, buf, 0, n);
        }
        guest.write(id, buf, 0, 0);
      } catch (IOException | RuntimeException e) {
        abort();
      } finally {
        done();
      }
    }

    /** Guest -> host client. */
    void toHost() {
      try {
        byte[] data;
        while ((data = guest.read(id, CHUNK)) != null) {
          NativeSockets.writeAll(fd, data, 0, data.length);
        }
        NativeSockets.shutdown(fd, NativeSockets.SHUT_WR);
      } catch (IOException | RuntimeException e) {
        abort();
      } finally {
        done();
      }
    }

    /** Wakes both pumps: the host socket's reads end, the guest connection's read gets EOF. */
    void abort() {
      NativeSockets.shutdown(fd, NativeSockets.SHUT_RDWR);
      closeGuest();
    }

    private void closeGuest() {
      try {
        guest.close(id);
      } catch (RuntimeException e) {
        // already gone with the guest, or closed by the other pump
      }
    }

    private void done() {
      if (running.decrementAndGet() == 0) {
        closeGuest();
        NativeSockets.close(fd);
        connections.remove(this);
      }
    }
  }

  /**
   * Stops accepting, ends every connection and removes the rule. Before the VM stops: a socket
   * holds its network namespace, which must go with the pod.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    NativeSockets.shutdown(listenFd, NativeSockets.SHUT_RDWR);
    try {
      acceptor.join(Duration.ofSeconds(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    NativeSockets.close(listenFd);
    connections.forEach(Connection::abort);
    try {
      runner.run(iptables("-D"));
    } catch (RuntimeException e) {
      // The namespace may be gone already; the rule goes with it.
      LOG.log(Level.DEBUG, "removing the port-forward rule in {0}: {1}", netns, e.getMessage());
    }
  }
}
