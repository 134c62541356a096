package dev.kataoperator.shim.pod;

import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.containerd.ShimContext;
import dev.kataoperator.shim.errors.ShimException.Kind;
import dev.kataoperator.shim.network.NetworkException;
import dev.kataoperator.shim.network.PodNetwork;
import dev.kataoperator.shim.network.PortForwarding;
import dev.kataoperator.shim.sandbox.Ids;
import dev.kataoperator.shim.sandbox.RunDirs;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.sandbox.SandboxException;
import dev.kataoperator.shim.sandbox.Timeline;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A pod's life on the host: its VM (booted for the first container), its run directory and share,
 * its network (taps in the CNI namespace), its cgroup, and their removal, also after a dead shim.
 */
final class Pod {
  private static final System.Logger LOG = System.getLogger(Pod.class.getName());
  private static final String NETNS_FILE = "netns";
  private static final String CGROUPS_FILE = "cgroups";

  /** Where the host makes each container's binds; the guest never sees this directory. */
  static final String BINDS_DIR = "mounts";

  /** What the guest sees: a read-only view of {@link #BINDS_DIR} (see HostMounts#makeShare). */
  static final String SHARE_DIR = "shared";

  private static final String STAGING_DIR = "staging";

  /**
   * The exit status of a process lost with its VM: 128+SIGKILL, what containerd reports for the
   * processes of a shim that died, so a pod looks the same to kubelet whether its VM or its whole
   * shim died.
   */
  static final int VM_DIED_STATUS = 128 + 9;

  private final ShimContext context;
  private final PodHost host;
  private final Path runDir;
  private final Path shareDir;
  private final Path bindsDir;
  private final List<OomEvents> oomListeners = new CopyOnWriteArrayList<>();
  private volatile Sandbox sandbox;
  private volatile PodNetwork network;
  private volatile PortForwarding portForwarding;
  private final Timeline timeline = Timeline.sinceProcessStart();

  /** The VM was stopped on purpose ({@link #kill}): its exit is expected. */
  private volatile boolean killed;

  Pod(ShimContext context, PodHost host) {
    this.context = context;
    this.host = host;
    this.runDir = runDirOf(host, context);
    this.shareDir = runDir.resolve(SHARE_DIR);
    this.bindsDir = runDir.resolve(BINDS_DIR);
  }

  String id() {
    return context.groupId();
  }

  /** The node, as this pod acts on it. */
  PodHost host() {
    return host;
  }

  /** When each phase of the pod's life happened; logged when the pod ends. */
  Timeline timeline() {
    return timeline;
  }

  /**
   * Where containers' rootfs and volumes are bound, host-only; the guest sees them read-only
   * through the pod's share.
   */
  Path bindsDir() {
    return bindsDir;
  }

  /** Removes container {@code id}'s binds and their view in the share. */
  void removeBinds(String id) {
    removeBinds(host, runDir, id);
  }

  private static void removeBinds(PodHost host, Path runDir, String id) {
    Ids.requireValid("container id", id);
    // The view's copies go with their originals; unmounted first in case one is busy.
    host.unmountAllUnder(runDir.resolve(SHARE_DIR).resolve(id));
    Path binds = runDir.resolve(BINDS_DIR).resolve(id);
    host.unmountAllUnder(binds);
    RunDirs.deleteQuietly(binds);
  }

  /** Where read-only binds are made before they are moved into {@link #bindsDir}. */
  Path stagingDir() {
    return runDir.resolve(STAGING_DIR);
  }

  /** The pod's run directory; checks every id before anything is built from it. */
  static Path runDirOf(PodHost host, ShimContext context) {
    String ns = context.namespace().isEmpty() ? "default" : context.namespace();
    Ids.requireValid("namespace", ns);
    Ids.requireValid("pod id", context.groupId());
    return host.runRoot().resolve(ns).resolve(context.groupId());
  }

  /**
   * The pod's VM, booted for {@code spec} with the configuration at {@code configPath} if this is
   * the pod's first container. FAILED_PRECONDITION once the VM has died: the pod must be recreated.
   */
  synchronized Sandbox ensureBooted(PodSpec spec, Path configPath) throws IOException {
    if (sandbox != null) {
      return running();
    }
    RuntimeConfig config = RuntimeConfig.load(configPath);
    RunDirs.createOwned(runDir);
    host.makeShare(bindsDir, shareDir, stagingDir());
    if (spec.networkNamespace().isPresent()) {
      // Recorded first, so that cleanup after a crash finds the taps to remove.
      Files.writeString(runDir.resolve(NETNS_FILE), spec.networkNamespace().get().toString());
      network = host.attachNetwork(spec.networkNamespace().get());
      timeline.mark(Timeline.NETWORK);
    }
    try {
      sandbox =
          Sandbox.boot(
              new Sandbox.Spec(
                  id(),
                  runDir,
                  shareDir,
                  false,
                  config.defaultMemoryMiB() + spec.extraMemoryMiB(),
                  config.defaultVcpus() + spec.extraVcpus(),
                  spec.hostname(),
                  spec.networkNamespace(),
                  network == null ? List.of() : network.nics()),
              config,
              host.hypervisor(config),
              host.virtualization(),
              timeline);
      if (network != null) {
        network.configureGuest(sandbox.agent());
        portForwarding = startPortForwarding(spec.networkNamespace().get(), sandbox.agent());
      }
      host.joinCgroup(spec.cgroupsPath(), sandbox.vm().pids(), runDir.resolve(CGROUPS_FILE));
    } catch (RuntimeException e) {
      close();
      throw e;
    }
    Sandbox sb = sandbox;
    sb.vm().exited().thenAccept(code -> vmExited(sb, code));
    Thread.ofVirtual().name("oom-events").start(() -> forwardOomEvents(sb));
    LOG.log(Level.INFO, "pod " + id() + ": VM up, guest kernel " + sb.health().getKernelRelease());
    return sb;
  }

  /** The running VM; FAILED_PRECONDITION when there is none (any more). */
  Sandbox running() {
    Sandbox sb = sandbox;
    if (sb == null || sb.vm().exited().isDone()) {
      throw new SandboxException(
          Kind.FAILED_PRECONDITION,
          "the VM of pod " + id() + " has exited; the pod must be recreated");
    }
    return sb;
  }

  /** The VM, running or not; null before the first container and after close. */
  Sandbox sandbox() {
    return sandbox;
  }

  /** The host pid containerd shows for every task of the pod: QEMU's (0 before the VM). */
  int vmPid() {
    Sandbox sb = sandbox;
    return sb == null ? 0 : sb.vm().pids().getFirst().intValue();
  }

  static boolean gone(Sandbox sb) {
    return sb == null || sb.vm().exited().isDone();
  }

  void onOom(OomEvents listener) {
    oomListeners.add(listener);
  }

  private void forwardOomEvents(Sandbox sb) {
    while (!sb.vm().exited().isDone()) {
      try {
        String id = sb.agent().nextOomEvent().getContainerId();
        Duration pause = Duration.ZERO;
        for (OomEvents l : oomListeners) {
          Duration p = l.accept(id);
          pause = p.compareTo(pause) > 0 ? p : pause;
        }
        if (pause.isPositive()) {
          Thread.sleep(pause);
        }
      } catch (AgentException e) {
        return; // the agent connection is gone: the sandbox is closing
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /**
   * SIGKILL to the pod's sandbox container (CRI's StopPodSandbox, or {@code ctr task kill -s KILL}
   * of a one-container pod): the pod ends now, as Kata ends a sandbox whose sandbox container
   * exits. The VM is stopped from the host, without asking the agent, so a wedged or hostile agent
   * cannot keep the pod alive; every process of the pod then reports {@link #VM_DIED_STATUS}, the
   * status SIGKILL gives. The rest of the teardown is containerd's Delete and Shutdown.
   */
  void kill() {
    Sandbox sb = sandbox;
    if (gone(sb)) {
      return;
    }
    killed = true;
    LOG.log(Level.INFO, "pod " + id() + ": SIGKILL to the sandbox container; stopping the VM");
    sb.vm().stop(Duration.ZERO);
  }

  /** Whether the VM was stopped by {@link #kill}. */
  boolean killed() {
    return killed;
  }

  /** The VM exited: expected while the pod is torn down; otherwise say so, once, with why. */
  private void vmExited(Sandbox sb, Integer code) {
    if (sb != sandbox || killed) {
      return; // the pod is being torn down
    }
    LOG.log(
        Level.WARNING,
        "pod "
            + id()
            + ": the VM exited unexpectedly (hypervisor exit code "
            + code
            + "); its processes exit with status "
            + VM_DIED_STATUS
            + " and the pod is torn down when containerd deletes it; guest console: "
            // One line: containerd copies the shim's log line by line.
            + sb.vm()
                .consoleTail(8)
                .replaceAll("\\p{Cntrl}\\[[0-9;?]*[A-Za-z]", "")
                .replaceAll("\\R+", " | ")
                .replaceAll("\\p{Cntrl}", ""));
  }

  /** kubectl port-forward into the VM; a pod without it (no iptables on the node) still runs. */
  private PortForwarding startPortForwarding(Path netns, AgentClient agent) {
    try {
      return host.startPortForwarding(netns, agent);
    } catch (NetworkException e) {
      LOG.log(
          Level.WARNING,
          "pod " + id() + ": no port forwarding (kubectl port-forward): " + e.getMessage());
      return null;
    }
  }

  /** Stops the VM and removes what the host holds for the pod. */
  synchronized void close() {
    Sandbox sb = sandbox;
    // Cleared first: the VM's exit during close is expected (see vmExited).
    sandbox = null;
    // Before the VM: its sockets hold the pod's network namespace, and its connections the agent.
    if (portForwarding != null) {
      portForwarding.close();
      portForwarding = null;
    }
    if (sb != null) {
      sb.close();
      timeline.mark(Timeline.VM_STOPPED);
      LOG.log(
          Level.INFO,
          "pod "
              + id()
              + ": "
              + Timeline.LOG_PREFIX
              + "(ms since the shim started) "
              + timeline.summary());
    }
    // Also what a join that failed part way made: it recorded each cgroup before making it.
    host.removeRecordedCgroups(runDir.resolve(CGROUPS_FILE));
    // After the VM: QEMU holds the taps open until it is gone.
    if (network != null) {
      network.detach();
      network = null;
    }
    host.unmountAllUnder(runDir);
    RunDirs.deleteQuietly(runDir);
  }

  /**
   * containerd's delete after a dead shim, once per container: a container's own share and rootfs
   * mounts; for the pod's sandbox container (the one the shim was grouped by) the whole pod too:
   * taps, every mount and the run directory. Its VM died with the shim (tied to its life).
   */
  static void cleanup(ShimContext context, PodHost host) {
    Path dir = runDirOf(host, context);
    if (context.id().equals(context.groupId())) {
      // The pod's VM and helpers normally died with its shim; one that outlived it (or raced its
      // stop) must not keep the mounts and taps removed below busy.
      host.killProcessesUsing(dir);
    }
    host.unmountAllUnder(context.bundle().resolve("rootfs"));
    if (!context.id().equals(context.groupId())) {
      removeBinds(host, dir, context.id());
      return;
    }
    try {
      Path netns = dir.resolve(NETNS_FILE);
      if (Files.isRegularFile(netns)) {
        host.detachAllNetworks(Path.of(Files.readString(netns).strip()));
      }
    } catch (IOException | RuntimeException e) {
      LOG.log(
          Level.WARNING, "pod " + context.groupId() + ": removing its network: " + e.getMessage());
    }
    host.removeRecordedCgroups(dir.resolve(CGROUPS_FILE));
    host.unmountAllUnder(dir);
    RunDirs.deleteQuietly(dir);
  }
}
