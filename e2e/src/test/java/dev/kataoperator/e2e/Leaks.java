package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** What a run may leave behind: hypervisor and helper processes, run directories. */
final class Leaks {
  private Leaks() {}

  /** Processes whose command line mentions {@code marker} (QEMU, virtiofsd of our runs). */
  static List<String> processes(String marker) {
    // /proc directly: ProcessHandle.Info.commandLine() is often empty for other processes.
    var found = new ArrayList<String>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        String cmd;
        try {
          cmd =
              new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8)
                  .replace('\0', ' ');
        } catch (IOException e) {
          continue; // exited meanwhile
        }
        if (cmd.contains(marker) && (cmd.contains("qemu-system") || cmd.contains("virtiofsd"))) {
          found.add(p.getFileName() + " " + cmd);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return found;
  }

  static List<String> entries(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(Path::toString).sorted().toList();
    }
  }

  /** Asserts that kata-run left no VM, helper or run directory behind. */
  static void assertNoneFromKataRun() throws IOException, InterruptedException {
    // QEMU can take a moment to go after its parent JVM exited (exit-with-parent).
    long deadline = System.nanoTime() + 5_000_000_000L;
    while (!processes("/run/kata/kata-run/").isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertEquals(List.of(), processes("/run/kata/kata-run/"), "leaked VM processes");
    assertEquals(List.of(), entries(Path.of("/run/kata/kata-run")), "leaked run directories");
  }
}
