package dev.kataoperator.shim.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The shim's log FIFO, read the way containerd reads it, across a containerd restart. */
@Tag("unit")
@Timeout(30)
class ShimLogTest {
  @TempDir Path tmp;

  @Test
  void theLogIsReopenedWhenContainerdComesBackAfterARestart() throws Exception {
    Path fifo = tmp.resolve("log");
    assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
    var handler = ShimLog.fifoHandler(fifo, Level.INFO);
    Logger log = Logger.getLogger("shim-log-test-" + System.nanoTime());
    log.setUseParentHandlers(false);
    log.addHandler(handler);

    try (BufferedReader containerd = Files.newBufferedReader(fifo, StandardCharsets.UTF_8)) {
      awaitConnected(handler);
      log.info("before the restart");
      String line = containerd.readLine();
      assertTrue(line.contains("level=info msg=\"before the restart\""), line);
    }
    // containerd is gone: this record is dropped, and the handler waits for the next reader.
    log.warning("while containerd restarts");
    try (BufferedReader restarted = Files.newBufferedReader(fifo, StandardCharsets.UTF_8)) {
      awaitConnected(handler);
      log.info("after the restart");
      String line = restarted.readLine();
      assertTrue(line.contains("msg=\"after the restart\""), line);
    }
  }

  private static void awaitConnected(ShimLog.FifoHandler handler) throws InterruptedException {
    for (int i = 0; i < 500 && !handler.connected(); i++) {
      Thread.sleep(10);
    }
    assertTrue(handler.connected(), "the log FIFO was opened for the reader");
  }
}
