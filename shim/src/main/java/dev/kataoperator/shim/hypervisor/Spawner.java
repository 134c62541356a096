package dev.kataoperator.shim.hypervisor;

import dev.kataoperator.shim.errors.ShimException.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
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

  /**
   * {@code command} prefixed so that it dies with this JVM. Without setpriv a VM would outlive a
   * killed shim, holding the pod's memory and share, so its absence is an error, not a shortcut.
   */
  public static List<String> tiedToThisJvm(List<String> command) {
    return tiedToThisJvm(command, SETPRIV);
  }

  static List<String> tiedToThisJvm(List<String> command, Path setpriv) {
    if (!Files.isExecutable(setpriv)) {
      throw new HypervisorException(
          Kind.FAILED_PRECONDITION,
          setpriv
              + " is missing: it ties each VM to its shim so that none outlives it; install"
              + " util-linux",
          null);
    }
    var cmd = new ArrayList<String>(List.of(setpriv.toString(), "--pdeathsig", "KILL", "--"));
    cmd.addAll(command);
    return cmd;
  }

  /**
   * {@code command} run with only {@code capabilities} (capabilities(7) names without {@code CAP_},
   * lower case) in its bounding set: a root process can then never hold any other, whatever it
   * executes. Put it right before the binary, after anything that needs more (nsenter).
   */
  public static List<String> withOnlyCapabilities(Set<String> capabilities, List<String> command) {
    var keep = new StringBuilder("-all");
    capabilities.stream().sorted().forEach(c -> keep.append(",+").append(c));
    var cmd =
        new ArrayList<String>(List.of(SETPRIV.toString(), "--bounding-set", keep.toString(), "--"));
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
