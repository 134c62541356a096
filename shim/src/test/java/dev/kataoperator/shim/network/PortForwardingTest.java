package dev.kataoperator.shim.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Port forwarding on a real network namespace with real netfilter, as containerd's CRI uses it: a
 * client in the namespace dials 127.0.0.1:PORT. The guest is stood in for by TCP servers on the
 * host's loopback (the agent's calls are tested in the agent and, with a VM, in CriTest).
 */
@Tag("root")
class PortForwardingTest {
  private final String name = "kata-pf-test-" + ProcessHandle.current().pid();
  private final Path netns = Path.of("/run/netns", name);
  private ServerSocket server;

  /** The guest's ports: a guest port -> a host server's port. */
  private final Map<Integer, Integer> guestPorts = new ConcurrentHashMap<>();

  private final List<Integer> opened = new CopyOnWriteArrayList<>();
  private final Map<String, Socket> open = new ConcurrentHashMap<>();
  private final AtomicInteger ids = new AtomicInteger();

  private final PortForwarding.Guest guest =
      new PortForwarding.Guest() {
        @Override
        public String open(int port) {
          opened.add(port);
          Integer real = guestPorts.get(port);
          if (real == null) {
            throw new IllegalStateException("nothing listens on port " + port + " in the guest");
          }
          try {
            String id = "pf-" + ids.incrementAndGet();
            open.put(id, new Socket(InetAddress.getLoopbackAddress(), real));
            return id;
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }

        @Override
        public void write(String id, byte[] data, int off, int len) {
          try {
            Socket s = open.get(id);
            if (len == 0) {
              s.shutdownOutput();
            } else {
              s.getOutputStream().write(data, off, len);
            }
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }

        @Override
        public byte[] read(String id, int maxBytes) {
          try {
            byte[] buf = new byte[maxBytes];
            int n = open.get(id).getInputStream().read(buf);
            return n < 0 ? null : java.util.Arrays.copyOf(buf, n);
          } catch (IOException e) {
            return null; // closed under the read: EOF, as the agent answers
          }
        }

        @Override
        public void close(String id) {
          Socket s = open.remove(id);
          if (s != null) {
            try {
              s.close();
            } catch (IOException e) {
              // closed
            }
          }
        }
      };

  @BeforeEach
  void namespace() throws Exception {
    run("ip", "netns", "add", name);
    run("ip", "-n", name, "link", "set", "lo", "up");
    // A line-echo server standing in for the guest's port 8080.
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    guestPorts.put(8080, server.getLocalPort());
    Thread.ofVirtual()
        .start(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket s = server.accept();
                  Thread.ofVirtual().start(() -> echo(s));
                } catch (IOException e) {
                  return;
                }
              }
            });
  }

  private static void echo(Socket s) {
    try (s) {
      var in =
          new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
      String line;
      while ((line = in.readLine()) != null) {
        s.getOutputStream().write(("guest got " + line + "\n").getBytes(StandardCharsets.UTF_8));
      }
    } catch (IOException e) {
      // the client went away
    }
  }

  @AfterEach
  void remove() throws Exception {
    server.close();
    run("ip", "netns", "del", name);
  }

  /** A client in the pod's namespace: sends lines to 127.0.0.1:port, prints what comes back. */
  private Result client(int port, String... lines) throws Exception {
    String script =
        "exec 3<>/dev/tcp/127.0.0.1/"
            + port
            + " || exit 7; printf '%s' '"
            + String.join("\\n", lines)
            + (lines.length > 0 ? "\\n" : "")
            + "' >&3; timeout 10 cat <&3";
    return run("ip", "netns", "exec", name, "bash", "-c", script);
  }

  @Test
  void aConnectionTo127001InTheNamespaceReachesTheSamePortInTheGuest() throws Exception {
    try (var pf = PortForwarding.start(netns, guest)) {
      // The server answers each line and closes when the client's side ends: the client's output
      // ends only once the guest closed, so the whole exchange went both ways.
      Result r =
          run(
              "ip",
              "netns",
              "exec",
              name,
              "bash",
              "-c",
              "exec 3<>/dev/tcp/127.0.0.1/8080 || exit 7; printf 'one\\ntwo\\n' >&3;"
                  + " head -n 2 <&3");
      assertEquals(0, r.exit(), r.toString());
      assertEquals("guest got one\nguest got two\n", r.out());
      assertEquals(List.of(8080), opened);
      assertEquals(1, pf.served());
      assertNotEquals(8080, pf.port());
    }
  }

  @Test
  void aPortNothingListensOnInTheGuestClosesTheConnection() throws Exception {
    try (var pf = PortForwarding.start(netns, guest)) {
      long t0 = System.nanoTime();
      Result r = client(9999, "hello");
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals("", r.out(), r.toString());
      assertEquals(List.of(9999), opened);
      assertTrue(ms < 5000, "closed after " + ms + " ms");
    }
  }

  @Test
  void manyConnectionsOneAfterAnotherAndAtOnceLeaveNothingOpen() throws Exception {
    try (var pf = PortForwarding.start(netns, guest)) {
      var clients = new java.util.ArrayList<Process>();
      for (int i = 0; i < 20; i++) {
        clients.add(
            new ProcessBuilder(
                    "ip",
                    "netns",
                    "exec",
                    name,
                    "bash",
                    "-c",
                    "exec 3<>/dev/tcp/127.0.0.1/8080 || exit 7; printf 'n"
                        + i
                        + "\\n' >&3;"
                        + " head -n 1 <&3")
                .redirectErrorStream(true)
                .start());
      }
      for (int i = 0; i < clients.size(); i++) {
        Process p = clients.get(i);
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals("guest got n" + i + "\n", out);
      }
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (!open.isEmpty() && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      assertEquals(Map.of(), open, "guest connections left open");
      assertEquals(20, pf.served());
    }
    assertEquals(0, threadsNamed("port-forward"), "threads left");
  }

  @Test
  void closeRemovesTheRuleAndTheListener() throws Exception {
    var pf = PortForwarding.start(netns, guest);
    String rules = run("ip", "netns", "exec", name, "iptables", "-t", "nat", "-S", "OUTPUT").out();
    assertTrue(rules.contains("REDIRECT --to-ports " + pf.port()), rules);
    pf.close();
    rules = run("ip", "netns", "exec", name, "iptables", "-t", "nat", "-S", "OUTPUT").out();
    assertFalse(rules.contains("REDIRECT"), rules);
    Result r = client(8080, "hello");
    assertEquals(7, r.exit(), "nothing listens any more: " + r);
    assertEquals(0, threadsNamed("port-forward"), "threads left");
  }

  private static long threadsNamed(String prefix) throws InterruptedException {
    long deadline = System.nanoTime() + 5_000_000_000L;
    long n;
    do {
      n =
          Thread.getAllStackTraces().keySet().stream()
              .filter(t -> t.getName().startsWith(prefix))
              .count();
      if (n == 0) {
        return 0;
      }
      Thread.sleep(50);
    } while (System.nanoTime() < deadline);
    return n;
  }

  record Result(int exit, String out, String err) {}

  private static Result run(String... argv) throws Exception {
    Process p = new ProcessBuilder(argv).start();
    // On its own thread, not the common pool (whose one worker on 2 cores another test may hold).
    var err =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () -> drain(p.getErrorStream()), Thread::startVirtualThread);
    String out = drain(p.getInputStream());
    assertTrue(p.waitFor(30, TimeUnit.SECONDS), String.join(" ", argv));
    return new Result(p.exitValue(), out, err.get(30, TimeUnit.SECONDS));
  }

  private static String drain(java.io.InputStream in) {
    try {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
