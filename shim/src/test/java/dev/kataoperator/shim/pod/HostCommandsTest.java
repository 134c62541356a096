package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The mount helpers' runner: a command that hangs or fails is an error, with its words. */
@Tag("unit")
class HostCommandsTest {

  @Test
  void aCommandThatHangsFailsWithinItsDeadline() {
    long start = System.nanoTime();
    var e =
        assertThrows(
            IOException.class,
            // Holds its output open too, as a mount(8) stuck on a dead server does.
            () -> HostMounts.run(List.of("sleep", "60"), Duration.ofMillis(300)));
    long took = (System.nanoTime() - start) / 1_000_000;
    assertTrue(e.getMessage().contains("no answer within"), e.getMessage());
    assertTrue(took < 5_000, "took " + took + " ms");
  }

  @Test
  void aFailingCommandSaysWhy() {
    var e =
        assertThrows(
            IOException.class,
            () ->
                HostMounts.run(
                    List.of("sh", "-c", "echo no such device >&2; exit 32"),
                    Duration.ofSeconds(10)));
    assertTrue(e.getMessage().contains("no such device"), e.getMessage());
  }
}
