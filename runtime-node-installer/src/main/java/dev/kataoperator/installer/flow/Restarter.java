package dev.kataoperator.installer.flow;

import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.RestartMethod;
import dev.kataoperator.installer.flow.InstallerException.Kind;
import dev.kataoperator.installer.host.HostExec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Restarts containerd the KataConfig's way, always in the host's namespaces: {@code systemctl
 * restart} of the flavor's unit (containerd, k3s or k3s-agent, rke2-server or rke2-agent, whichever
 * is active), the KataConfig's own command, or nothing (someone else restarts it; the installer
 * still waits until containerd serves the handlers).
 */
final class Restarter {
  private static final Duration TIMEOUT = Duration.ofSeconds(180);

  private final RestartMethod method;
  private final ContainerdFlavor flavor;
  private final List<String> command;
  private final HostExec exec;

  Restarter(RestartMethod method, ContainerdFlavor flavor, List<String> command, HostExec exec) {
    this.method = method;
    this.flavor = flavor;
    this.command = command;
    this.exec = exec;
  }

  /** The method to use: the KataConfig's, or for {@code auto} systemd when the host runs it. */
  static RestartMethod resolve(Optional<RestartMethod> requested, Path hostRoot)
      throws InstallerException {
    if (requested.isPresent()) {
      return requested.get();
    }
    if (Files.isDirectory(hostRoot.resolve("run/systemd/system"))) {
      return RestartMethod.systemd;
    }
    throw new InstallerException(
        Kind.RESTART,
        "cannot tell how to restart containerd: the host does not run systemd; set"
            + " spec.containerd.restartMethod (command or none)");
  }

  RestartMethod method() {
    return method;
  }

  /** Whether a restart replaces containerd's process (so its pid must change). */
  boolean replacesProcess() {
    return method != RestartMethod.none;
  }

  /** Restarts containerd; returns what was done, one line. */
  String restart() throws InstallerException {
    try {
      return switch (method) {
        case none -> "restart method none: waiting for containerd to be restarted";
        case command -> run(command);
        case systemd -> run(List.of("systemctl", "restart", unit()));
      };
    } catch (IOException e) {
      throw new InstallerException(
          Kind.RESTART,
          "cannot run the restart (" + e.getMessage() + "); is nsenter in the image?",
          e);
    }
  }

  /** The flavor's unit that is active, else its first. */
  private String unit() throws IOException {
    for (String u : flavor.units()) {
      if (exec.run(List.of("systemctl", "is-active", "--quiet", u), Duration.ofSeconds(30)).ok()) {
        return u;
      }
    }
    return flavor.units().getFirst();
  }

  private String run(List<String> argv) throws IOException, InstallerException {
    HostExec.Result r = exec.run(argv, TIMEOUT);
    if (!r.ok()) {
      throw new InstallerException(
          Kind.RESTART,
          "restarting containerd failed: "
              + r.describe()
              + (r.exit() == 124 ? " (timed out after " + TIMEOUT.toSeconds() + " s)" : ""));
    }
    return "ran `" + String.join(" ", argv) + "`";
  }
}
