package dev.kataoperator.shim.cli;

import dev.kataoperator.shim.sandbox.GuestProcess;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The user's terminal in raw mode for {@code -t}, restored on close. Uses stty on /dev/tty: the JDK
 * has no termios API, and this runs once per kata-run.
 */
final class Terminal implements AutoCloseable {
  private static final File TTY = new File("/dev/tty");
  private final String saved;

  private Terminal(String saved) {
    this.saved = saved;
  }

  static Terminal none() {
    return new Terminal(null);
  }

  /** Puts the controlling terminal in raw mode and sizes the guest's pty like it. */
  static Terminal raw(GuestProcess process) throws IOException {
    if (System.console() == null || !Files.isReadable(Path.of("/dev/tty"))) {
      throw new IOException("-t needs a terminal on stdin and stdout; drop -t when piping");
    }
    String saved = stty("-g").strip();
    String[] size = stty("size").strip().split("\\s+");
    if (size.length == 2) {
      process.resize(Integer.parseInt(size[0]), Integer.parseInt(size[1]));
    }
    stty("raw", "-echo");
    return new Terminal(saved);
  }

  private static String stty(String... args) throws IOException {
    var cmd = new java.util.ArrayList<String>();
    cmd.add("stty");
    cmd.addAll(java.util.List.of(args));
    Process p =
        new ProcessBuilder(cmd)
            .redirectInput(TTY)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (p.waitFor() != 0) {
        throw new IOException("stty " + String.join(" ", args) + " failed");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    return out;
  }

  @Override
  public void close() throws IOException {
    if (saved != null) {
      stty(saved);
    }
  }
}
