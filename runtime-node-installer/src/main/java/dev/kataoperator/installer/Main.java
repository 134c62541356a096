package dev.kataoperator.installer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.contract.VirtualizationPolicy;
import dev.kataoperator.installer.containerd.ContainerdInstallation;
import dev.kataoperator.installer.flow.InstallerException;
import dev.kataoperator.installer.flow.NodeFlow;
import dev.kataoperator.installer.flow.Settings;
import dev.kataoperator.installer.flow.StopSignal;
import dev.kataoperator.installer.host.HostProcesses;
import dev.kataoperator.installer.node.NodeReporter;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The installer's command line. With no argument (the DaemonSet's way) it runs the mode {@code
 * KATA_INSTALLER_MODE} names, then stays alive until the pod is stopped; {@code install} and {@code
 * uninstall} name the mode explicitly; {@code check} prints the host check as JSON. Exit codes: 0
 * done, 1 failed (one line on stderr says why), 2 bad usage, 3 the node cannot run Kata.
 */
public final class Main {
  static final int OK = 0;
  static final int FAILED = 1;
  static final int USAGE = 2;
  static final int UNSUPPORTED = 3;

  /** Returned when the JVM is already shutting down (SIGTERM): it exits on its own. */
  static final int STOPPING = -1;

  /** Within the DaemonSet's 120 s termination grace period. */
  static final Duration STOP_GRACE = Duration.ofSeconds(110);

  static final String USAGE_TEXT =
      """
      usage: runtime-node-installer [install | uninstall]
               the node flow; the mode defaults to KATA_INSTALLER_MODE (docs/installer.md)
             runtime-node-installer check [options]
        --policy RequireHardware|AllowSoftwareEmulation   (env KATA_VIRTUALIZATION_POLICY,
                                                          default RequireHardware)
        --host-root DIR          where the host's files are (env HOST_ROOT, default /)
        --containerd-flavor auto|containerd|k3s|rke2      (env KATA_CONTAINERD_FLAVOR)
        --containerd-config PATH  host path of the config to edit (env KATA_CONTAINERD_CONFIG)
        --containerd-socket PATH  host path of containerd's CRI socket
      """;

  private Main() {}

  public static void main(String[] args) {
    int code = run(List.of(args), System.getenv(), System.out, System.err);
    if (code != STOPPING) {
      System.exit(code);
    }
  }

  static int run(List<String> argv, Map<String, String> env, PrintStream out, PrintStream err) {
    Deque<String> args = new ArrayDeque<>(argv);
    String command = args.isEmpty() ? "run" : args.removeFirst();
    return switch (command) {
      case "check" -> check(args, env, out, err);
      case "run", "install", "uninstall" -> {
        if (!args.isEmpty()) {
          err.print(USAGE_TEXT);
          yield USAGE;
        }
        Optional<Mode> mode =
            command.equals("run") ? Optional.empty() : Optional.of(Mode.valueOf(command));
        yield flow(env, mode, err);
      }
      default -> {
        err.print(USAGE_TEXT);
        yield USAGE;
      }
    };
  }

  /** The node flow, then (if it succeeded) waiting for the pod's stop. */
  static int flow(Map<String, String> env, Optional<Mode> mode, PrintStream err) {
    Settings s;
    try {
      s = Settings.fromEnv(env, mode);
    } catch (IllegalArgumentException e) {
      err.println("runtime-node-installer: " + e.getMessage());
      return USAGE;
    }
    Log.configure(s.logLevel());
    Log.info(
        "runtime-node-installer "
            + s.mode()
            + " on node "
            + s.nodeName()
            + (s.runtimeClasses().isEmpty() ? "" : ", runtime classes " + s.runtimeClasses())
            + ", config hash "
            + (s.configHash().isEmpty() ? "(none)" : s.configHash()));
    StopSignal stop = StopSignal.onShutdown(STOP_GRACE);
    try (NodeReporter node = NodeReporter.connect(s.nodeName(), Duration.ofMinutes(2))) {
      NodeFlow flow = new NodeFlow(s, node, stop);
      try {
        if (s.mode() == Mode.install) {
          flow.install();
        } else {
          flow.uninstall();
        }
      } catch (InstallerException e) {
        if (e.kind() != InstallerException.Kind.STOPPED) {
          Log.error(s.mode() + " failed: " + e.getMessage());
          stop.done();
          return e.kind() == InstallerException.Kind.UNSUPPORTED ? UNSUPPORTED : FAILED;
        }
        Log.info("stopped between two steps: " + e.getMessage());
      }
      stop.await();
      if (s.mode() == Mode.install) {
        flow.onStop();
      }
      stop.done();
      return STOPPING;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      stop.done();
      return FAILED;
    } catch (RuntimeException e) {
      Log.error(s.mode() + " failed unexpectedly: " + e);
      stop.done();
      return FAILED;
    }
  }

  static int check(Deque<String> args, Map<String, String> env, PrintStream out, PrintStream err) {
    String policy =
        env.getOrDefault(InstallerContract.ENV_VIRTUALIZATION_POLICY, "RequireHardware");
    String hostRoot = env.getOrDefault(InstallerContract.ENV_HOST_ROOT, "/");
    String flavor = env.getOrDefault(InstallerContract.ENV_CONTAINERD_FLAVOR, "auto");
    String config = env.getOrDefault(InstallerContract.ENV_CONTAINERD_CONFIG, "");
    String socket = "";
    try {
      while (!args.isEmpty()) {
        String a = args.removeFirst();
        if (args.isEmpty()) {
          throw new IllegalArgumentException("missing value for " + a);
        }
        String v = args.removeFirst();
        switch (a) {
          case "--policy" -> policy = v;
          case "--host-root" -> hostRoot = v;
          case "--containerd-flavor" -> flavor = v;
          case "--containerd-config" -> config = v;
          case "--containerd-socket" -> socket = v;
          default -> throw new IllegalArgumentException("unknown option " + a);
        }
      }
      VirtualizationPolicy p = VirtualizationPolicy.parse(policy);
      Optional<ContainerdFlavor> f = ContainerdFlavor.parseExplicit(flavor);
      HostProcesses processes = HostProcesses.host();
      var query =
          new ContainerdInstallation.Query(
              Path.of(hostRoot),
              processes,
              f,
              config.isEmpty() ? Optional.empty() : Optional.of(Path.of(config)),
              socket.isEmpty() ? Optional.empty() : Optional.of(Path.of(socket)));
      Path mounts = Path.of("/proc/1/mounts");
      if (!Files.isReadable(mounts)) {
        mounts = Path.of("/proc/self/mounts");
      }
      HostCheck check = HostCheck.run(new HostCheck.Inputs(Path.of("/"), mounts, query), p);
      var mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
      out.println(mapper.writeValueAsString(check.toJson(mapper)));
      return check.verdict() == HostCheck.Verdict.UNSUPPORTED ? UNSUPPORTED : OK;
    } catch (IllegalArgumentException e) {
      err.println("runtime-node-installer: " + e.getMessage());
      err.print(USAGE_TEXT);
      return USAGE;
    } catch (Exception e) {
      err.println("runtime-node-installer: check failed: " + e);
      return FAILED;
    }
  }
}
