package dev.kataoperator.shim.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A QEMU whose QMP accepts and then falls silent cannot hang a start or a stop. */
@Tag("unit")
class QmpDeadlineTest {
  @TempDir Path dir;
  private final List<AutoCloseable> open = new CopyOnWriteArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : open) {
      c.close();
    }
  }

  /**
   * Serves QMP at {@code socket}: greets and answers capabilities if {@code greets}, then nothing.
   */
  private void wedgedQmp(Path socket, boolean greets) throws IOException {
    var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    open.add(server);
    Thread.ofVirtual()
        .start(
            () -> {
              try {
                while (true) {
                  SocketChannel c = server.accept();
                  open.add(c);
                  if (greets) {
                    c.write(utf8("{\"QMP\":{\"version\":{},\"capabilities\":[]}}\n"));
                    var in =
                        new BufferedReader(
                            new InputStreamReader(
                                Channels.newInputStream(c), StandardCharsets.UTF_8));
                    in.readLine(); // qmp_capabilities
                    c.write(utf8("{\"return\":{}}\n"));
                  }
                }
              } catch (IOException e) {
                // the test is over
              }
            });
  }

  private static ByteBuffer utf8(String s) {
    return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void aGreetingThatNeverComesFailsTheConnectWithinItsDeadline() throws Exception {
    Path socket = dir.resolve("qmp.sock");
    wedgedQmp(socket, false);
    long t0 = System.nanoTime();
    var e = assertThrows(IOException.class, () -> Qmp.connect(socket, Duration.ofMillis(300)));
    assertTrue(e.getMessage().contains("did not answer the greeting"), e.getMessage());
    assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "took too long");
  }

  @Test
  void aCommandThatIsNeverAnsweredFailsWithinItsDeadline() throws Exception {
    Path socket = dir.resolve("qmp.sock");
    wedgedQmp(socket, true);
    try (var qmp = Qmp.connect(socket, Duration.ofSeconds(5))) {
      long t0 = System.nanoTime();
      var e =
          assertThrows(
              IOException.class, () -> qmp.execute("quit", Map.of(), Duration.ofMillis(300)));
      assertTrue(e.getMessage().contains("did not answer quit"), e.getMessage());
      assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "took too long");
    }
  }

  @Test
  void stoppingAVmWhoseQmpIsWedgedKillsItWithinTheBound() throws Exception {
    // "QEMU" is a sleep whose QMP socket greets and then never answers quit.
    wedgedQmp(dir.resolve("qmp.sock"), true);
    var console = GuestConsole.listen(dir.resolve("console.sock"));
    var vm = QemuVm.start(List.of("sleep", "600"), dir, List.of(), console, Duration.ofSeconds(10));
    long pid = vm.pids().getFirst();
    long t0 = System.nanoTime();
    vm.stop(Duration.ZERO);
    long took = System.nanoTime() - t0;
    assertTrue(took < Duration.ofSeconds(15).toNanos(), "stop took " + took / 1_000_000 + " ms");
    assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "still alive");
    vm.exited().get(30, java.util.concurrent.TimeUnit.SECONDS);
  }
}
