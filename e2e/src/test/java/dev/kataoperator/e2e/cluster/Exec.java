package dev.kataoperator.e2e.cluster;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** A finished command: its exit status and output. */
public record Exec(List<String> command, int exit, String out, String err) {
  private static final File DEV_NULL = new File("/dev/null");

  /** Runs {@code command} with no input; past {@code limit} it is stopped and this throws. */
  public static Exec run(Duration limit, List<String> command) throws IOException {
    return run(limit, command, Map.of());
  }

  /**
   * Runs {@code command} with {@code env} added to this JVM's environment. Past {@code limit} it
   * gets SIGTERM and two minutes to clean up (e2e/cluster/up takes down what it started), then
   * SIGKILL.
   */
  public static Exec run(Duration limit, List<String> command, Map<String, String> env)
      throws IOException {
    var pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(DEV_NULL));
    pb.environment().putAll(env);
    Process p = pb.start();
    CompletableFuture<String> out = drain(p.getInputStream());
    CompletableFuture<String> err = drain(p.getErrorStream());
    try {
      if (!p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroy();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
          p.destroyForcibly();
        }
        throw new IllegalStateException(
            "timed out after "
                + limit.toSeconds()
                + " s: "
                + String.join(" ", command)
                + "\n"
                + tail(err.join()));
      }
      return new Exec(command, p.exitValue(), out.join(), err.join());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new IllegalStateException("interrupted: " + String.join(" ", command), e);
    }
  }

  /** This result, or an exception naming the command, its status and its error output. */
  public Exec ok() {
    if (exit != 0) {
      throw new IllegalStateException(
          String.join(" ", command) + " failed with status " + exit + ":\n" + tail(err + out));
    }
    return this;
  }

  private static CompletableFuture<String> drain(InputStream in) {
    return CompletableFuture.supplyAsync(
        () -> {
          try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        },
        Thread::startVirtualThread);
  }

  static String tail(String s) {
    return s.length() > 6000 ? "..." + s.substring(s.length() - 6000) : s;
  }
}
