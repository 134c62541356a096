package dev.kataoperator.installer.flow;

import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.Hypervisor;
import dev.kataoperator.contract.InstallerContract.RuntimeClassEntry;
import dev.kataoperator.contract.LogLevel;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.contract.RestartMethod;
import dev.kataoperator.contract.Virtualization;
import dev.kataoperator.installer.HostCheck;
import dev.kataoperator.installer.Log;
import dev.kataoperator.installer.containerd.ConfigSnapshot;
import dev.kataoperator.installer.containerd.ContainerdConfig;
import dev.kataoperator.installer.containerd.ContainerdConfigException;
import dev.kataoperator.installer.containerd.ContainerdInstallation;
import dev.kataoperator.installer.containerd.ContainerdTemplate;
import dev.kataoperator.installer.containerd.HandlerConfig;
import dev.kataoperator.installer.containerd.RuntimeHandler;
import dev.kataoperator.installer.cri.CriView;
import dev.kataoperator.installer.flow.InstallerException.Kind;
import dev.kataoperator.installer.fs.AtomicFiles;
import dev.kataoperator.installer.host.HostExec;
import dev.kataoperator.installer.host.HostProcesses;
import dev.kataoperator.installer.host.Native;
import dev.kataoperator.installer.node.DaemonSetSelection;
import dev.kataoperator.installer.node.NodeReportException;
import dev.kataoperator.installer.node.NodeReporter;
import dev.kataoperator.installer.node.NodeUpdate;
import dev.kataoperator.installer.node.NodeUpdates;
import dev.kataoperator.installer.payload.ClassConfig;
import dev.kataoperator.installer.payload.PayloadException;
import dev.kataoperator.installer.payload.PayloadInstaller;
import dev.kataoperator.installer.payload.PayloadSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The node flow (docs/installer.md): {@code install} is check → payload → containerd config →
 * restart → verify → labels, then the ready file; {@code uninstall} is labels off → config restored
 * → restart → verify → payload removed → labels → ready. Each step is one log line with its
 * duration. Every step can be killed at any point and the next run converges to the same end state:
 * each write is atomic, and each step starts by looking at what is there.
 */
public final class NodeFlow {
  /** The VMMs a node with the payload can run (firecracker is not in this release). */
  static final List<String> HYPERVISORS = List.of(Hypervisor.qemu.name());

  /** At least this long for containerd to come back with the config it had (after a failure). */
  static final Duration ROLLBACK_VERIFY_TIMEOUT = Duration.ofSeconds(60);

  /** How long a stopping pod may spend on containerd when it reverts its node. */
  static final Duration STOP_VERIFY_TIMEOUT = Duration.ofSeconds(60);

  private final Settings s;
  private final NodeReporter node;
  private final StopSignal stop;
  private final HostExec exec;
  private final HostProcesses processes;
  private final NodeUpdates updates;

  /** Set while a stopping pod reverts its node: its steps must run although a stop is pending. */
  private volatile boolean reverting;

  public NodeFlow(Settings s, NodeReporter node, StopSignal stop) {
    this.s = s;
    this.node = node;
    this.stop = stop;
    this.exec = new HostExec(s.hostPid());
    this.processes = new HostProcesses(Path.of("/proc"), s.hostPid());
    this.updates = new NodeUpdates(s.configHash(), s.installerImage());
  }

  // --- install ------------------------------------------------------------------------------

  /** Installs; returns normally once the node is installed and the ready file exists. */
  public void install() throws InstallerException {
    clearReady();
    HostCheck check = step("check", this::hostCheck, c -> c.verdict().label() + ": " + c.reason());
    ContainerdInstallation ctd = check.containerd();
    Virtualization virt = check.virtualization().kind();
    Set<String> labelled = kube(node::labelledClasses);
    List<String> wanted = s.runtimeClasses().stream().map(RuntimeClassEntry::name).toList();
    Optional<String> refusal = refusal(check);
    if (refusal.isPresent()) {
      report(updates.failed(Optional.of(virt), labelled, Set.of(), refusal.get()));
      throw new InstallerException(Kind.UNSUPPORTED, refusal.get());
    }
    ClassConfig.Accel accel =
        check.verdict() == HostCheck.Verdict.KVM ? ClassConfig.Accel.kvm : ClassConfig.Accel.tcg;
    String how = accel == ClassConfig.Accel.kvm ? "KVM" : "software emulation (QEMU TCG)";
    step(
        "report-installing",
        () -> {
          report(
              updates.installing(
                  virt, labelled, Set.copyOf(wanted), "installing " + wanted + " with " + how));
          return null;
        },
        x -> "runtime-state=installing");

    List<ClassConfig> configs =
        s.runtimeClasses().stream()
            .map(
                c ->
                    new ClassConfig(
                        c.name(),
                        c.hypervisor(),
                        accel,
                        s.logLevel() == LogLevel.debug,
                        check.reason()))
            .toList();
    List<RuntimeHandler> handlers =
        wanted.stream().map(n -> RuntimeHandler.kata(n, s.prefix())).toList();
    HandlerConfig config = handlerConfig(ctd);
    Set<String> before = configCall(config::installedHandlers);
    PayloadInstaller payload =
        new PayloadInstaller(s.hostRoot(), s.prefix(), exec, this::checkpoint);

    PayloadSource[] src = new PayloadSource[1];
    PayloadInstaller.Installed installed =
        step(
            "payload",
            () -> {
              src[0] = payloadCall(() -> PayloadSource.open(s.payload()));
              return payloadCall(() -> payload.install(src[0], configs));
            },
            PayloadInstaller.Installed::describe);

    ConfigSnapshot snapshot = configCall(config::snapshot);
    ContainerdConfig.Outcome outcome =
        step(
            "containerd-config",
            () -> configCall(() -> config.install(ctd.version().orElseThrow(), handlers)),
            o -> o.changed() ? o.changes().toString() : "unchanged");

    Restarter restarter =
        new Restarter(
            Restarter.resolve(s.restart(), s.hostRoot()), ctd.flavor(), s.restartCommand(), exec);
    CriVerifier verifier = new CriVerifier(processes.onHostRootFs(ctd.socket()));
    Map<String, CriVerifier.Wanted> present = wanted(wanted);
    Set<String> absent = new TreeSet<>(before);
    absent.removeAll(wanted);
    try {
      Restart r =
          step(
              "restart",
              () -> restart(restarter, verifier, outcome.changed(), present, absent),
              Restart::what);
      step(
          "verify",
          () -> verifier.await(present, absent, r.oldPid(), s.verifyTimeout()),
          v -> "containerd serves " + wanted);
    } catch (InstallerException e) {
      if (e.kind() != Kind.RESTART && e.kind() != Kind.VERIFY) {
        throw e;
      }
      throw rollback(
          e, config, snapshot, payload, installed, restarter, verifier, before, wanted, labelled,
          virt);
    }
    step(
        "cleanup",
        () -> {
          payloadCall(
              () -> {
                payload.cleanup(src[0], configs);
                return null;
              });
          return null;
        },
        x -> "old versions, launchers and configs removed");
    Set<String> nowLabelled = kube(node::labelledClasses);
    step(
        "report-installed",
        () -> {
          report(
              updates.installed(
                  virt,
                  HYPERVISORS,
                  installed.version(),
                  nowLabelled,
                  Set.copyOf(wanted),
                  String.join(",", wanted)
                      + " installed with "
                      + how
                      + " (payload "
                      + installed.version()
                      + "): "
                      + check.reason()));
          return null;
        },
        x -> "runtime-state=installed, class labels " + wanted);
    writeReady("installed " + installed.version());
  }

  /** Why the node cannot have Kata, from the check and the classes asked for. */
  private Optional<String> refusal(HostCheck check) {
    if (check.verdict() == HostCheck.Verdict.UNSUPPORTED) {
      return Optional.of(check.reason());
    }
    for (RuntimeClassEntry c : s.runtimeClasses()) {
      if (!c.hypervisor().supported()) {
        return Optional.of(
            "runtime class "
                + c.name()
                + " asks for "
                + c.hypervisor()
                + ", which this release cannot run; use qemu");
      }
    }
    return Optional.empty();
  }

  /**
   * What the restart step did.
   *
   * @param what one line for the log
   * @param oldPid the pid containerd had, when the restart is one that replaces the process
   */
  record Restart(String what, OptionalLong oldPid) {}

  /** Restarts containerd when its config changed or it does not serve what is wanted. */
  private Restart restart(
      Restarter restarter,
      CriVerifier verifier,
      boolean changed,
      Map<String, CriVerifier.Wanted> present,
      Set<String> absent)
      throws InstallerException {
    Optional<CriView> view = verifier.view();
    boolean serving =
        view.isPresent() && CriVerifier.mismatch(view.get(), present, absent).isEmpty();
    if (!changed && serving) {
      return new Restart("not needed: containerd already serves this config", OptionalLong.empty());
    }
    OptionalLong pid = verifier.servingPid();
    String what = restarter.restart();
    return new Restart(
        what
            + (pid.isPresent() ? " (containerd was pid " + pid.getAsLong() + ")" : "")
            + (changed ? "" : "; the config was unchanged but containerd did not serve it"),
        restarter.replacesProcess() ? pid : OptionalLong.empty());
  }

  /**
   * containerd did not come back with the new config: the previous config (and, on an upgrade, the
   * previous payload) back, containerd restarted again and checked, and the node marked failed with
   * the cause. Returns the exception to end the run with.
   */
  private InstallerException rollback(
      InstallerException cause,
      HandlerConfig config,
      ConfigSnapshot snapshot,
      PayloadInstaller payload,
      PayloadInstaller.Installed installed,
      Restarter restarter,
      CriVerifier verifier,
      Set<String> before,
      List<String> wanted,
      Set<String> labelled,
      Virtualization virt) {
    String result;
    Set<String> stillWorking = Set.of();
    try {
      result =
          step(
              "rollback",
              () -> {
                configCall(
                    () -> {
                      config.restore(snapshot);
                      return null;
                    });
                payloadCall(
                    () -> {
                      payload.rollback(installed);
                      return null;
                    });
                if (restarter.method() == RestartMethod.none) {
                  return "the previous containerd config is back; containerd must be restarted to"
                      + " load it (restart method none)";
                }
                OptionalLong pid = verifier.servingPid();
                restarter.restart();
                Set<String> gone = new TreeSet<>(wanted);
                gone.removeAll(before);
                verifier.await(
                    wanted(List.copyOf(before)),
                    gone,
                    restarter.replacesProcess() ? pid : OptionalLong.empty(),
                    ROLLBACK_VERIFY_TIMEOUT.compareTo(s.verifyTimeout()) > 0
                        ? ROLLBACK_VERIFY_TIMEOUT
                        : s.verifyTimeout());
                return installed.switched() && installed.previous().isPresent()
                    ? "the previous containerd config and payload "
                        + installed.previous().get()
                        + " are back and containerd serves them"
                    : "the previous containerd config is back and containerd serves it";
              },
              r -> r);
      if (restarter.method() != RestartMethod.none) {
        stillWorking = new TreeSet<>(before);
        stillWorking.retainAll(labelled);
      }
    } catch (InstallerException e) {
      result = "rolling back failed too: " + e.getMessage();
    }
    String message = "install failed: " + cause.getMessage() + "; " + result;
    try {
      report(updates.failed(Optional.of(virt), labelled, stillWorking, message));
    } catch (InstallerException e) {
      Log.error("cannot report the failure on the node: " + e.getMessage());
    }
    return new InstallerException(cause.kind(), message, cause);
  }

  // --- uninstall ----------------------------------------------------------------------------

  /** Uninstalls; returns normally once the node is clean and the ready file exists. */
  public void uninstall() throws InstallerException {
    uninstall(s.verifyTimeout());
  }

  private void uninstall(Duration verifyTimeout) throws InstallerException {
    clearReady();
    ContainerdInstallation ctd =
        step(
            "check",
            () -> ContainerdInstallation.detect(query()),
            c ->
                c.flavor()
                    + " "
                    + c.version().map(Object::toString).orElse("(not serving)")
                    + ", "
                    + c.config());
    Set<String> labelled = kube(node::labelledClasses);
    step(
        "report-uninstalling",
        () -> {
          report(updates.uninstalling(labelled, "uninstalling"));
          return null;
        },
        x -> "runtime-state=uninstalling, class labels " + labelled + " removed");
    HandlerConfig config = handlerConfig(ctd);
    PayloadInstaller payload =
        new PayloadInstaller(s.hostRoot(), s.prefix(), exec, this::checkpoint);
    Set<String> ours = new TreeSet<>(configCall(config::installedHandlers));
    ours.addAll(payloadCall(payload::launcherClasses));
    s.runtimeClasses().forEach(c -> ours.add(c.name()));
    ContainerdConfig.Outcome outcome =
        step(
            "containerd-config",
            () -> configCall(config::uninstall),
            o -> o.changed() ? o.changes().toString() : "unchanged");
    CriVerifier verifier = new CriVerifier(processes.onHostRootFs(ctd.socket()));
    try {
      Restarter restarter =
          new Restarter(
              Restarter.resolve(s.restart(), s.hostRoot()), ctd.flavor(), s.restartCommand(), exec);
      Restart r =
          step(
              "restart",
              () -> restart(restarter, verifier, outcome.changed(), Map.of(), ours),
              Restart::what);
      step(
          "verify",
          () -> verifier.await(Map.of(), ours, r.oldPid(), verifyTimeout),
          v -> "containerd serves none of " + ours);
    } catch (InstallerException e) {
      if (e.kind() == Kind.STOPPED) {
        throw e;
      }
      String message =
          "uninstall failed: "
              + e.getMessage()
              + "; containerd's config is restored, the payload is still in "
              + s.prefix();
      report(updates.failed(Optional.empty(), Set.of(), Set.of(), message));
      throw new InstallerException(e.kind(), message, e);
    }
    step(
        "payload",
        () -> payloadCall(payload::uninstall),
        removed -> removed ? s.prefix() + " removed" : "nothing to remove");
    step(
        "report-uninstalled",
        () -> {
          report(updates.uninstalled());
          return null;
        },
        x -> "runtime-state=uninstalled");
    writeReady("uninstalled");
  }

  // --- stopping -----------------------------------------------------------------------------

  /**
   * The pod is being stopped after an install: revert the node only when the installer's DaemonSet
   * no longer selects it (or is gone); a rolling update, a restart or an eviction leaves it
   * installed. Errors are logged: the pod is going away either way.
   */
  public void onStop() {
    if (s.namespace().isEmpty() || s.daemonSet().isEmpty()) {
      Log.info("stopping; no DaemonSet named in the environment: leaving the node as it is");
      return;
    }
    Optional<String> why;
    try {
      why =
          DaemonSetSelection.notSelected(
              node.daemonSet(s.namespace().get(), s.daemonSet().get()), node.get());
    } catch (NodeReportException e) {
      Log.warn(
          "stopping; cannot tell whether the DaemonSet still selects this node ("
              + e.getMessage()
              + "): leaving the node as it is");
      return;
    }
    if (why.isEmpty()) {
      Log.info(
          "stopping; the DaemonSet still selects node " + s.nodeName() + ": leaving it installed");
      return;
    }
    Log.info("stopping, and " + why.get() + ": reverting node " + s.nodeName());
    reverting = true;
    try {
      uninstall(STOP_VERIFY_TIMEOUT);
      Log.info("node " + s.nodeName() + " reverted");
    } catch (InstallerException e) {
      Log.error("reverting the node failed: " + e.getMessage());
    }
  }

  // --- parts --------------------------------------------------------------------------------

  private HostCheck hostCheck() {
    Path mounts = processes.proc().resolve(Long.toString(s.hostPid())).resolve("mounts");
    return HostCheck.run(new HostCheck.Inputs(Path.of("/"), mounts, query()), s.policy());
  }

  private ContainerdInstallation.Query query() {
    return new ContainerdInstallation.Query(
        s.hostRoot(), processes, s.flavor(), s.containerdConfig(), Optional.empty());
  }

  /** Where the handlers go: containerd's config, or k3s's and rke2's template. */
  private HandlerConfig handlerConfig(ContainerdInstallation ctd) {
    if (ctd.flavor().usesTemplate()) {
      Path template = ctd.config();
      String name = template.getFileName().toString();
      Path rendered =
          name.endsWith(".tmpl")
              ? template.resolveSibling(name.substring(0, name.length() - ".tmpl".length()))
              : ctd.flavor().renderedConfig();
      return new ContainerdTemplate(s.hostRoot(), template, rendered);
    }
    if (ctd.flavor() == ContainerdFlavor.auto) {
      throw new IllegalStateException("flavor not detected");
    }
    return new ContainerdConfig(s.hostRoot(), ctd.config());
  }

  private Map<String, CriVerifier.Wanted> wanted(List<String> names) {
    Map<String, CriVerifier.Wanted> m = new LinkedHashMap<>();
    for (String n : names) {
      m.put(
          n,
          new CriVerifier.Wanted(
              PayloadLayout.runtimeType(n), PayloadLayout.configPath(s.prefix(), n).toString()));
    }
    return m;
  }

  private void report(NodeUpdate u) throws InstallerException {
    kube(
        () -> {
          node.apply(u);
          return null;
        });
  }

  private void clearReady() throws InstallerException {
    try {
      // The ready file is on an emptyDir, which outlives a restarted container: a new run is not
      // ready until it is done.
      Files.deleteIfExists(s.readyFile());
    } catch (IOException e) {
      throw new InstallerException(Kind.PAYLOAD, "cannot remove " + s.readyFile() + ": " + e, e);
    }
  }

  private void writeReady(String what) throws InstallerException {
    try {
      AtomicFiles.write(s.readyFile(), what + "\n");
      Log.info("node " + s.nodeName() + " " + what + "; ready (" + s.readyFile() + ")");
    } catch (IOException e) {
      throw new InstallerException(Kind.PAYLOAD, "cannot write " + s.readyFile() + ": " + e, e);
    }
  }

  /** The crash tests' hook: SIGKILL here when KATA_INSTALLER_TEST_KILL_AT names this point. */
  void checkpoint(String name) {
    if (s.killAt().map(name::equals).orElse(false)) {
      Log.warn("test hook: SIGKILL at " + name);
      Native.killSelf();
    }
  }

  // --- steps and error mapping --------------------------------------------------------------

  @FunctionalInterface
  interface Body<T> {
    T run() throws InstallerException;
  }

  @FunctionalInterface
  interface Call<T, E extends Exception> {
    T run() throws E;
  }

  /** Runs one step: stops first if the pod is being stopped, logs one line with the duration. */
  private <T> T step(String name, Body<T> body, Function<T, String> describe)
      throws InstallerException {
    if (stop.requested() && !reverting) {
      throw new InstallerException(Kind.STOPPED, "stopped before step " + name);
    }
    long t0 = System.nanoTime();
    try {
      T result = body.run();
      Log.step(name, Duration.ofNanos(System.nanoTime() - t0), true, describe.apply(result));
      checkpoint(s.mode().name() + ":" + name);
      return result;
    } catch (InstallerException e) {
      Log.step(name, Duration.ofNanos(System.nanoTime() - t0), false, e.getMessage());
      throw e;
    }
  }

  private static <T> T configCall(Call<T, ContainerdConfigException> c) throws InstallerException {
    try {
      return c.run();
    } catch (ContainerdConfigException e) {
      throw new InstallerException(Kind.CONFIG, e.getMessage(), e);
    }
  }

  private static <T> T payloadCall(Call<T, PayloadException> c) throws InstallerException {
    try {
      return c.run();
    } catch (PayloadException e) {
      throw new InstallerException(Kind.PAYLOAD, e.getMessage(), e);
    }
  }

  private static <T> T kube(Call<T, NodeReportException> c) throws InstallerException {
    try {
      return c.run();
    } catch (NodeReportException e) {
      throw new InstallerException(Kind.KUBERNETES, e.getMessage(), e);
    }
  }
}
