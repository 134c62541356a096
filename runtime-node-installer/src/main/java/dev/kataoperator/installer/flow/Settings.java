package dev.kataoperator.installer.flow;

import static dev.kataoperator.contract.InstallerContract.*;

import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.contract.InstallerContract.RuntimeClassEntry;
import dev.kataoperator.contract.LogLevel;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.contract.RestartMethod;
import dev.kataoperator.contract.VirtualizationPolicy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the installer acts on, read once from its environment: the operator's contract variables
 * ({@link InstallerContract}), plus a few settings for development and tests, which the operator
 * never sets (their defaults are what a node needs):
 *
 * <ul>
 *   <li>{@code KATA_INSTALLER_PREFIX}: where the payload goes on the host ({@code /opt/kata});
 *   <li>{@code KATA_INSTALLER_PAYLOAD}: the image's payload ({@code /payload});
 *   <li>{@code KATA_INSTALLER_READY_FILE}: the readiness file ({@code /run/kata-installer/ready});
 *   <li>{@code KATA_INSTALLER_HOST_PID}: the process whose namespaces are the host's (1);
 *   <li>{@code KATA_INSTALLER_VERIFY_TIMEOUT}: seconds to wait for containerd to serve the handlers
 *       after a restart (120);
 *   <li>{@code KATA_INSTALLER_TEST_KILL_AT}: a checkpoint name at which the installer kills itself
 *       with SIGKILL (the crash tests).
 * </ul>
 */
public record Settings(
    Mode mode,
    String nodeName,
    Optional<String> namespace,
    Optional<String> daemonSet,
    String configHash,
    String installerImage,
    List<RuntimeClassEntry> runtimeClasses,
    VirtualizationPolicy policy,
    Optional<ContainerdFlavor> flavor,
    Optional<Path> containerdConfig,
    Optional<RestartMethod> restart,
    List<String> restartCommand,
    LogLevel logLevel,
    Path hostRoot,
    Path prefix,
    Path payload,
    Path readyFile,
    long hostPid,
    Duration verifyTimeout,
    Optional<String> killAt) {

  public static final String ENV_PREFIX = "KATA_INSTALLER_PREFIX";
  public static final String ENV_PAYLOAD = "KATA_INSTALLER_PAYLOAD";
  public static final String ENV_READY_FILE = "KATA_INSTALLER_READY_FILE";
  public static final String ENV_HOST_PID = InstallerContract.ENV_HOST_PID;
  public static final String ENV_VERIFY_TIMEOUT = "KATA_INSTALLER_VERIFY_TIMEOUT";
  public static final String ENV_KILL_AT = "KATA_INSTALLER_TEST_KILL_AT";

  /**
   * Reads the environment; {@code mode} overrides {@code KATA_INSTALLER_MODE} when given.
   *
   * @throws IllegalArgumentException naming the variable that is missing or wrong
   */
  public static Settings fromEnv(Map<String, String> env, Optional<Mode> mode) {
    Mode m =
        mode.orElseGet(
            () -> {
              String v = get(env, ENV_MODE).orElse(Mode.install.name());
              try {
                return Mode.valueOf(v);
              } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(
                    ENV_MODE + " must be install or uninstall: '" + v + "'");
              }
            });
    String node =
        get(env, ENV_NODE_NAME)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        ENV_NODE_NAME + " is not set (the DaemonSet sets it from spec.nodeName)"));
    List<RuntimeClassEntry> classes =
        m == Mode.install || get(env, ENV_RUNTIME_CLASSES).isPresent()
            ? parseRuntimeClasses(env.get(ENV_RUNTIME_CLASSES))
            : List.of();
    Optional<RestartMethod> restart = RestartMethod.parseEnv(env.get(ENV_CONTAINERD_RESTART));
    List<String> command =
        get(env, ENV_CONTAINERD_RESTART_COMMAND)
            .map(c -> c.lines().filter(l -> !l.isEmpty()).toList())
            .orElse(List.of());
    if (restart.equals(Optional.of(RestartMethod.command)) && command.isEmpty()) {
      throw new IllegalArgumentException(
          ENV_CONTAINERD_RESTART + "=command needs " + ENV_CONTAINERD_RESTART_COMMAND);
    }
    Optional<Path> config = get(env, ENV_CONTAINERD_CONFIG).map(Path::of);
    if (config.isPresent() && !config.get().isAbsolute()) {
      throw new IllegalArgumentException(ENV_CONTAINERD_CONFIG + " must be an absolute path");
    }
    Path prefix = get(env, ENV_PREFIX).map(Path::of).orElse(PayloadLayout.PREFIX);
    if (!prefix.isAbsolute()) {
      throw new IllegalArgumentException(ENV_PREFIX + " must be an absolute path");
    }
    return new Settings(
        m,
        node,
        get(env, ENV_NAMESPACE),
        get(env, ENV_DAEMONSET),
        get(env, ENV_CONFIG_HASH).orElse(""),
        get(env, ENV_INSTALLER_IMAGE).orElse(""),
        classes,
        VirtualizationPolicy.parse(
            get(env, ENV_VIRTUALIZATION_POLICY)
                .orElse(VirtualizationPolicy.RequireHardware.name())),
        ContainerdFlavor.parseExplicit(env.get(ENV_CONTAINERD_FLAVOR)),
        config,
        restart,
        command,
        LogLevel.parse(get(env, ENV_LOG_LEVEL).orElse(LogLevel.info.name())),
        Path.of(get(env, ENV_HOST_ROOT).orElse("/")),
        prefix,
        Path.of(get(env, ENV_PAYLOAD).orElse(IMAGE_PAYLOAD)),
        Path.of(get(env, ENV_READY_FILE).orElse(READY_FILE)),
        Long.parseLong(get(env, ENV_HOST_PID).orElse("1")),
        Duration.ofSeconds(Long.parseLong(get(env, ENV_VERIFY_TIMEOUT).orElse("120"))),
        get(env, ENV_KILL_AT));
  }

  private static Optional<String> get(Map<String, String> env, String name) {
    String v = env.get(name);
    return v == null || v.isBlank() ? Optional.empty() : Optional.of(v.strip());
  }
}
