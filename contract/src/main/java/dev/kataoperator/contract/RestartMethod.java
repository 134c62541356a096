package dev.kataoperator.contract;

import java.util.Optional;

/**
 * How the installer restarts containerd after changing its configuration ({@code
 * spec.containerd.restartMethod}).
 */
public enum RestartMethod {
  /** The flavor's systemd unit (containerd, k3s or k3s-agent, rke2-server or rke2-agent). */
  systemd,
  /** {@link InstallerContract#ENV_CONTAINERD_RESTART_COMMAND}, run in the host's namespaces. */
  command,
  /** Nobody restarts containerd; the installer still waits until it serves the handlers. */
  none;

  /** The environment's value when the method is to be detected with the flavor. */
  public static final String AUTO = "auto";

  /** Parses the environment's spelling; empty for {@link #AUTO} (or nothing). */
  public static Optional<RestartMethod> parseEnv(String s) {
    if (s == null || s.isBlank() || s.equals(AUTO)) {
      return Optional.empty();
    }
    for (RestartMethod m : values()) {
      if (m.name().equals(s)) {
        return Optional.of(m);
      }
    }
    throw new IllegalArgumentException(
        "containerd restart method must be auto, systemd, command or none: '" + s + "'");
  }
}
