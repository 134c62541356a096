package dev.kataoperator.shim.network;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs commands in a network namespace through {@code nsenter --net=PATH}: a child process joins
 * the namespace, so no JVM thread ever changes namespace.
 */
final class NsenterRunner implements NetnsRunner {
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final Path netns;

  NsenterRunner(Path netns) {
    this.netns = netns;
  }

  @Override
  public String run(List<String> argv) {
    var cmd = new ArrayList<>(List.of("nsenter", "--net=" + netns, "--"));
    cmd.addAll(argv);
    String shown = String.join(" ", argv);
    Process p;
    try {
      p =
          new ProcessBuilder(cmd)
              .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
              .start();
    } catch (IOException e) {
      throw new NetworkException(
          NetworkException.Reason.COMMAND_FAILED,
          "cannot run `nsenter` for `" + shown + "` in " + netns + ": " + e.getMessage(),
          e);
    }
    try {
      var err = new CompletableFuture<String>();
      Thread.ofVirtual()
          .name("nsenter-stderr")
          .start(
              () -> {
                try {
                  err.complete(drain(p.getErrorStream()));
                } catch (RuntimeException e) {
                  err.completeExceptionally(e);
                }
              });
      String out = drain(p.getInputStream());
      if (!p.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new NetworkException(
            NetworkException.Reason.COMMAND_FAILED,
            "`" + shown + "` in " + netns + " did not finish within " + TIMEOUT.toSeconds() + " s");
      }
      String stderr = err.join().strip();
      if (p.exitValue() != 0) {
        if (stderr.startsWith("nsenter:") && !stderr.contains("failed to execute")) {
          throw new NetworkException(
              NetworkException.Reason.NETNS_UNAVAILABLE,
              "cannot enter network namespace " + netns + ": " + stderr);
        }
        throw new NetworkException(
            NetworkException.Reason.COMMAND_FAILED,
            "`"
                + shown
                + "` in "
                + netns
                + " failed (exit "
                + p.exitValue()
                + "): "
                + (stderr.isEmpty() ? "no message" : stderr));
      }
      return out;
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new NetworkException(
          NetworkException.Reason.COMMAND_FAILED, "interrupted while running `" + shown + "`", e);
    }
  }

  private static String drain(InputStream in) {
    try (in) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
