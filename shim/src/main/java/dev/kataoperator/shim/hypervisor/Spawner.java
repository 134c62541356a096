package dev.kataoperator.shim.hypervisor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Starts hypervisor and helper processes so that none outlives this JVM, however it ends: each is
 * exec'd through {@code setpriv --pdeathsig SIGKILL}. The kernel sends that signal when the
 * <em>thread</em> that forked the child exits, so every child is forked from one platform thread
 * that lives as long as the JVM.
 */
public final class Spawner {
  private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
  private static final ExecutorService FORKER =
      Executors.newSingleThreadExecutor(
          r -> Thread.ofPlatform().daemon().name("vm-process-spawner").unstarted(r));

  private Spawner() {}

  /** {@code command} prefixed so that it dies with this JVM (when setpriv is available). */
  public static List<String> tiedToThisJvm(List<String> command) {
    if (!Files.isExecutable(SETPRIV)) {
      return command;
    }
    var cmd = new ArrayList<String>(List.of(SETPRIV.toString(), "--pdeathsig", "KILL", "--"));
    cmd.addAll(command);
    return cmd;
  }

  /** Starts {@code pb} (whose command should come from {@link #tiedToThisJvm}) on the spawner. */
  public static Process start(ProcessBuilder pb) throws IOException {
    try {
      return FORKER.submit(pb::start).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while starting " + pb.command().getFirst(), e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      throw new IOException(e.getCause());
    }
  }
}
