package dev.kataoperator.shim.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
class GuestConsoleTest {
  @TempDir Path dir;

  @Test
  void keepsOnlyTheLastCapacityBytesHoweverMuchTheGuestWrites() throws Exception {
    try (var console = GuestConsole.listen(dir.resolve("con.sock"))) {
      try (var qemu = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        qemu.connect(UnixDomainSocketAddress.of(console.socket()));
        byte[] line = "a line the guest repeats to fill the node's memory\r\n".getBytes();
        long total = 0;
        for (int i = 0; i < 40_000; i++) { // ~2 MB, 30 times the ring
          qemu.write(ByteBuffer.wrap(line));
          total += line.length;
        }
        qemu.write(ByteBuffer.wrap("[ 9.99] Kernel panic - the last words\n".getBytes()));
        total += 38;
        long expected = total;
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (console.written() < expected && System.nanoTime() < deadline) {
          Thread.sleep(10);
        }
        assertEquals(expected, console.written());
      }
      String tail = console.tail(3);
      List<String> lines = tail.lines().toList();
      assertEquals(3, lines.size(), tail);
      assertEquals("[ 9.99] Kernel panic - the last words", lines.get(2));
      assertEquals("a line the guest repeats to fill the node's memory", lines.get(0));
      assertTrue(console.tail(100_000).length() <= GuestConsole.CAPACITY, "the ring is bounded");
      // Nothing on disk but the socket, which goes with the console.
      assertEquals(List.of(dir.resolve("con.sock")), Files.list(dir).toList());
    }
    assertFalse(Files.exists(dir.resolve("con.sock")));
  }

  @Test
  void aLongWriteAndControlCharacters() throws Exception {
    try (var console = GuestConsole.listen(dir.resolve("c.sock"))) {
      byte[] big = new byte[GuestConsole.CAPACITY * 3];
      java.util.Arrays.fill(big, (byte) 'x');
      console.append(big, 0, big.length);
      byte[] end = "\nbell\u0007 and escape\u001b[0m done\n".getBytes(StandardCharsets.UTF_8);
      console.append(end, 0, end.length);
      assertEquals("bell and escape[0m done", console.tail(1));
      assertEquals(big.length + end.length, console.written());
    }
  }

  @Test
  void closingBeforeQemuConnectsLeavesNothing() throws Exception {
    var console = GuestConsole.listen(dir.resolve("early.sock"));
    console.close();
    assertFalse(Files.exists(dir.resolve("early.sock")));
    assertEquals("", console.tail(5));
  }
}
