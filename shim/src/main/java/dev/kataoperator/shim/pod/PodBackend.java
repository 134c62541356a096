package dev.kataoperator.shim.pod;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.agent.v1.ExecProcessRequest;
import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.containerd.ProcessIo;
import dev.kataoperator.shim.containerd.RuntimeOptions;
import dev.kataoperator.shim.containerd.ShimContext;
import dev.kataoperator.shim.containerd.TaskBackend;
import dev.kataoperator.shim.containerd.api.cgroups.v2.CPUStat;
import dev.kataoperator.shim.containerd.api.cgroups.v2.MemoryEvents;
import dev.kataoperator.shim.containerd.api.cgroups.v2.MemoryStat;
import dev.kataoperator.shim.containerd.api.cgroups.v2.Metrics;
import dev.kataoperator.shim.containerd.api.cgroups.v2.PidsStat;
import dev.kataoperator.shim.containerd.api.types.Mount;
import dev.kataoperator.shim.hypervisor.qemu.QemuHypervisor;
import dev.kataoperator.shim.network.PodNetwork;
import dev.kataoperator.shim.sandbox.GuestProcess;
import dev.kataoperator.shim.sandbox.Ids;
import dev.kataoperator.shim.sandbox.RunDirs;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.ttrpc.Code;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * One pod = one VM. The first container created (the CRI sandbox container, or the only container
 * of a {@code ctr run}) boots the VM; every container's rootfs and bind mounts are bound into the
 * sandbox's share directory, which the guest sees at {@link Sandbox#GUEST_SHARED_DIR}.
 */
public final class PodBackend implements TaskBackend {
  private static final Logger LOG = Logger.getLogger(PodBackend.class.getName());
  private static final ObjectMapper JSON = new ObjectMapper();
  static final Path DEFAULT_CONFIG = PayloadLayout.defaultConfig();
  static final Path RUN_ROOT = PayloadLayout.SHIM_RUN_ROOT;
  private static final String NETNS_FILE = "netns";

  /**
   * The exit status of every process of a pod whose VM died under it (QEMU killed or crashed, the
   * guest kernel panicked, the agent connection lost): 128+SIGKILL. The processes were ended
   * abruptly, without a signal they could handle, and that is what containerd itself reports for
   * the processes of a shim that died (its cleanupAfterDeadShim, and this shim's own {@code delete}
   * say 137 too), so a pod looks the same to kubelet whether its VM or its whole shim died. 255
   * (Kata's Go shim's choice) stays what the task service reports when waiting failed for a reason
   * that says nothing about the process.
   */
  static final int VM_DIED_STATUS = 128 + 9;

  /** How long a lost agent connection may precede QEMU's exit being noticed. */
  private static final Duration VM_EXIT_GRACE = Duration.ofSeconds(5);

  private static final String SANDBOX_MEMORY = "io.kubernetes.cri.sandbox-memory";
  private static final String SANDBOX_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
  private static final String SANDBOX_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";

  private final ShimContext context;
  private final Path runDir;
  private final Path shareDir;
  private final Map<String, Container> containers = new ConcurrentHashMap<>();
  private final List<Consumer<String>> oomListeners = new CopyOnWriteArrayList<>();
  private volatile Sandbox sandbox;
  private volatile PodNetwork network;
  private volatile PodCgroup cgroup;

  /** A container in the VM and the processes the shim started in it. */
  private record Container(
      String id, Path bundle, boolean mountedRootfs, Map<String, Proc> processes) {}

  /** A process: its stdio and, once started, its guest handle and output pumps. */
  private static final class Proc {
    final ProcessIo io;
    final Any execSpec;
    volatile GuestProcess guest;
    volatile int pid;
    volatile Thread stdout;
    volatile Thread stderr;
    volatile Exit exit;

    Proc(ProcessIo io, Any execSpec) {
      this.io = io;
      this.execSpec = execSpec;
    }
  }

  public PodBackend(ShimContext context) {
    this.context = context;
    Ids.requireValid("pod id", context.groupId());
    String ns = context.namespace().isEmpty() ? "default" : context.namespace();
    Ids.requireValid("namespace", ns);
    this.runDir = RUN_ROOT.resolve(ns).resolve(context.groupId());
    this.shareDir = runDir.resolve("shared");
  }

  /** Where a pod's run directory is, for cleanup after a dead shim. */
  static Path runDirOf(ShimContext context) {
    String ns = context.namespace().isEmpty() ? "default" : context.namespace();
    Ids.requireValid("namespace", ns);
    Ids.requireValid("pod id", context.groupId());
    return RUN_ROOT.resolve(ns).resolve(context.groupId());
  }

  @Override
  public int create(CreateRequest req) throws Exception {
    Ids.requireValid("container id", req.containerId());
    if (!req.checkpoint().isEmpty()) {
      throw new TtrpcException(Code.UNIMPLEMENTED, "checkpoint/restore is not supported by kata");
    }
    ObjectNode spec = readSpec(req.bundle());
    Path rootfs = req.bundle().resolve("rootfs");
    boolean mounted = mountRootfs(req.rootfs(), rootfs);
    try {
      ensureSandbox(req, spec);
      Path containerShare = shareDir.resolve(req.containerId());
      HostMounts.bind(rootfs, containerShare.resolve("rootfs"), false);
      String guestShare = Sandbox.GUEST_SHARED_DIR + "/" + req.containerId();
      var adapted = GuestSpec.adapt(spec, containerShare.resolve("mounts"), guestShare + "/mounts");
      for (var share : adapted.shares()) {
        HostMounts.bind(share.hostSource(), share.shareTarget(), share.readOnly());
      }
      boolean terminal = req.io().terminal();
      sandbox
          .agent()
          .createContainer(
              CreateContainerRequest.newBuilder()
                  .setContainerId(req.containerId())
                  .setOciSpecJson(ByteString.copyFrom(JSON.writeValueAsBytes(adapted.spec())))
                  .setRootfsPath(guestShare + "/rootfs")
                  .setTerminal(terminal)
                  .setStdin(req.io().stdin().isPresent())
                  .build());
      var c = new Container(req.containerId(), req.bundle(), mounted, new ConcurrentHashMap<>());
      c.processes().put("", new Proc(req.io(), null));
      containers.put(req.containerId(), c);
      // Not the guest pid (known at start); containerd only needs a stable positive number.
      return 1;
    } catch (Exception e) {
      HostMounts.unmountAllUnder(shareDir.resolve(req.containerId()));
      if (mounted) {
        HostMounts.unmountAllUnder(rootfs);
      }
      if (containers.isEmpty()) {
        closeSandbox();
      }
      throw e;
    }
  }

  private synchronized void ensureSandbox(CreateRequest req, ObjectNode spec) throws IOException {
    if (sandbox != null) {
      if (sandbox.vm().exited().isDone()) {
        throw new TtrpcException(
            Code.FAILED_PRECONDITION,
            "the VM of pod " + context.groupId() + " has exited; the pod must be recreated");
      }
      return;
    }
    RuntimeConfig config = RuntimeConfig.load(configPath(req.options()));
    RunDirs.createOwned(runDir);
    Files.createDirectories(shareDir);
    String hostname = spec.path("hostname").asText(context.groupId());
    int memory = config.defaultMemoryMiB() + memoryLimitMiB(spec);
    int vcpus = config.defaultVcpus() + cpuLimit(spec);
    Optional<Path> netns = networkNamespace(spec);
    if (netns.isPresent()) {
      // Recorded first, so that cleanup after a crash finds the taps to remove.
      Files.writeString(runDir.resolve(NETNS_FILE), netns.get().toString());
      network = PodNetwork.attach(netns.get());
    }
    try {
      sandbox =
          Sandbox.boot(
              new Sandbox.Spec(
                  context.groupId(),
                  runDir,
                  shareDir,
                  false,
                  memory,
                  vcpus,
                  hostname,
                  netns,
                  network == null ? List.of() : network.nics()),
              config,
              new QemuHypervisor(config.qemuPath(), config.virtiofsd()),
              HostVirtualization.probe());
      if (network != null) {
        network.configureGuest(sandbox.agent());
      }
      cgroup =
          PodCgroup.join(spec.path("linux").path("cgroupsPath").asText(""), sandbox.vm().pids())
              .orElse(null);
    } catch (RuntimeException e) {
      closeSandbox();
      throw e;
    }
    Sandbox sb = sandbox;
    sb.vm().exited().thenAccept(code -> vmExited(sb, code));
    Thread.ofVirtual().name("oom-events").start(this::forwardOomEvents);
    LOG.info(
        "pod "
            + context.groupId()
            + ": VM up, guest kernel "
            + sandbox.health().getKernelRelease());
  }

  /** The pod's network namespace (CNI's), when the spec names one to join. */
  static Optional<Path> networkNamespace(ObjectNode spec) {
    for (var ns : spec.path("linux").path("namespaces")) {
      String path = ns.path("path").asText("");
      if ("network".equals(ns.path("type").asText()) && !path.isEmpty()) {
        if (!path.startsWith("/") || path.contains("..")) {
          throw new IllegalArgumentException("network namespace path '" + path + "' is invalid");
        }
        return Optional.of(Path.of(path));
      }
    }
    return Optional.empty();
  }

  private static Path configPath(Optional<Any> options) {
    return options
        .flatMap(RuntimeOptions::configPath)
        .map(Path::of)
        .or(() -> Optional.ofNullable(System.getenv("KATA_CONFIG")).map(Path::of))
        .orElse(DEFAULT_CONFIG);
  }

  /**
   * The pod's memory limit in MiB, added on top of the VM's base memory: CRI's sandbox annotation
   * (containerd 1.7+, the sum of the pod's container limits), else the container's own limit (a
   * {@code ctr run --memory-limit}).
   */
  static int memoryLimitMiB(ObjectNode spec) {
    long limit = spec.path("annotations").path(SANDBOX_MEMORY).asLong(0);
    if (limit <= 0) {
      limit = spec.path("linux").path("resources").path("memory").path("limit").asLong(0);
    }
    return limit > 0 ? (int) Math.min(limit >> 20, 64 * 1024) : 0;
  }

  /** The pod's CPU limit in whole vCPUs (rounded up), added on top of the VM's base vCPUs. */
  static int cpuLimit(ObjectNode spec) {
    var annotations = spec.path("annotations");
    long quota = annotations.path(SANDBOX_CPU_QUOTA).asLong(0);
    long period = annotations.path(SANDBOX_CPU_PERIOD).asLong(0);
    if (quota <= 0 || period <= 0) {
      var cpu = spec.path("linux").path("resources").path("cpu");
      quota = cpu.path("quota").asLong(0);
      period = cpu.path("period").asLong(0);
    }
    return quota > 0 && period > 0 ? (int) Math.min((quota + period - 1) / period, 64) : 0;
  }

  private static ObjectNode readSpec(Path bundle) throws IOException {
    Path file = bundle.resolve("config.json");
    try {
      if (JSON.readTree(file.toFile()) instanceof ObjectNode o) {
        return o;
      }
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(
          "malformed OCI spec " + file + ": " + e.getOriginalMessage());
    }
    throw new IllegalArgumentException("OCI spec " + file + " is not a JSON object");
  }

  /** Mounts containerd's rootfs mounts at the bundle's rootfs, as the runc shim does. */
  private static boolean mountRootfs(List<Mount> mounts, Path rootfs) throws IOException {
    if (mounts.isEmpty()) {
      if (!Files.isDirectory(rootfs)) {
        throw new IllegalArgumentException("no rootfs mounts and no " + rootfs);
      }
      return false;
    }
    Files.createDirectories(rootfs);
    for (Mount m : mounts) {
      HostMounts.mount(m.getType(), m.getSource(), rootfs, m.getOptionsList());
    }
    return true;
  }

  @Override
  public int start(String containerId, String execId) throws Exception {
    Container c = container(containerId);
    Proc p = process(c, execId);
    Sandbox sb = sandbox;
    if (vmGone(sb)) {
      throw new TtrpcException(
          Code.FAILED_PRECONDITION, "the VM of pod " + context.groupId() + " has exited");
    }
    int pid;
    if (execId.isEmpty()) {
      p.guest = new GuestProcess(sb.agent(), containerId, "");
      pumpOutput(p);
      pid = sb.agent().startContainer(containerId);
    } else {
      pid =
          sb.agent()
              .execProcess(
                  ExecProcessRequest.newBuilder()
                      .setContainerId(containerId)
                      .setExecId(execId)
                      .setProcessJson(p.execSpec.getValue())
                      .setTerminal(p.io.terminal())
                      .setStdin(p.io.stdin().isPresent())
                      .build());
      p.guest = new GuestProcess(sb.agent(), containerId, execId);
      pumpOutput(p);
    }
    p.pid = pid;
    p.io.stdin().ifPresent(in -> p.guest.pumpStdin(in));
    return pid;
  }

  private static void pumpOutput(Proc p) {
    p.stdout = p.io.stdout().map(out -> p.guest.pumpStdout(out)).orElse(null);
    p.stderr = p.io.stderr().map(err -> p.guest.pumpStderr(err)).orElse(null);
  }

  @Override
  public void exec(String containerId, String execId, ProcessIo io, Any processSpec) {
    Ids.requireValid("exec id", execId);
    Container c = container(containerId);
    if (c.processes().putIfAbsent(execId, new Proc(io, processSpec)) != null) {
      throw new TtrpcException(Code.ALREADY_EXISTS, "exec " + execId + " already exists");
    }
  }

  /**
   * The process's exit; {@link #VM_DIED_STATUS} for every process once the VM is gone, so that
   * containerd gets a TaskExit for each and the pod can be deleted. Either way the output pumps end
   * (their reads fail with the agent connection) and containerd's stdout/stderr get their EOF.
   */
  @Override
  public Exit await(String containerId, String execId) throws Exception {
    Proc p = process(container(containerId), execId);
    Sandbox sb = sandbox;
    int status;
    try {
      status = p.guest.waitFor();
    } catch (AgentException e) {
      if (e.status().code() != Code.UNAVAILABLE || sb == null) {
        throw e;
      }
      // The agent connection is gone and is never made again: the process is lost with its VM.
      // QEMU's exit may be noticed a moment after the socket closed; wait for it, for the log.
      boolean exited = awaitVmExit(sb);
      LOG.warning(
          "pod "
              + context.groupId()
              + ": "
              + describe(containerId, execId)
              + (exited ? " ended with its VM" : " lost with the agent connection (the VM runs on)")
              + "; reporting exit status "
              + VM_DIED_STATUS);
      status = VM_DIED_STATUS;
    } finally {
      // Output the process wrote before it exited must reach containerd before the exit does.
      for (Thread t : new Thread[] {p.stdout, p.stderr}) {
        if (t != null) {
          t.join(Duration.ofSeconds(10));
        }
      }
      p.io.stdout().ifPresent(PodBackend::closeQuietly);
      p.io.stderr().ifPresent(PodBackend::closeQuietly);
    }
    p.exit = new Exit(p.pid, status, Instant.now());
    return p.exit;
  }

  private static boolean awaitVmExit(Sandbox sb) throws InterruptedException {
    try {
      sb.vm().exited().get(VM_EXIT_GRACE.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (ExecutionException | TimeoutException e) {
      return sb.vm().exited().isDone();
    }
  }

  /** The VM exited: expected while the pod is torn down; otherwise say so, once, with why. */
  private void vmExited(Sandbox sb, Integer code) {
    if (sb != sandbox) {
      return; // the pod is being torn down
    }
    LOG.warning(
        "pod "
            + context.groupId()
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

  private static boolean vmGone(Sandbox sb) {
    return sb == null || sb.vm().exited().isDone();
  }

  private static String describe(String containerId, String execId) {
    return execId.isEmpty() ? "container " + containerId : "exec " + containerId + "/" + execId;
  }

  @Override
  public void kill(String containerId, String execId, int signal, boolean all) {
    container(containerId);
    Sandbox sb = sandbox;
    try {
      sb.agent().signal(containerId, execId, signal, all);
    } catch (AgentException e) {
      if (e.status().code() != Code.NOT_FOUND && !vmGone(sb)) {
        throw e;
      }
      // Already exited, or gone with the VM: containerd treats killing a dead process as done.
    }
  }

  @Override
  public Exit delete(String containerId, String execId) throws Exception {
    Container c = container(containerId);
    Proc p = c.processes().remove(execId);
    Exit exit = p != null && p.exit != null ? p.exit : new Exit(0, 0, Instant.now());
    if (!execId.isEmpty()) {
      return exit;
    }
    containers.remove(containerId);
    Sandbox sb = sandbox;
    try {
      if (!vmGone(sb)) {
        sb.agent().removeContainer(containerId);
      }
    } catch (AgentException e) {
      LOG.warning("remove " + containerId + " in the guest: " + e.getMessage());
    } finally {
      HostMounts.unmountAllUnder(shareDir.resolve(containerId));
      RunDirs.deleteQuietly(shareDir.resolve(containerId));
      if (c.mountedRootfs()) {
        HostMounts.unmountAllUnder(c.bundle().resolve("rootfs"));
      }
    }
    return exit;
  }

  @Override
  public void resizePty(String containerId, String execId, int width, int height) {
    container(containerId);
    sandbox.agent().resizeTerminal(containerId, execId, height, width);
  }

  @Override
  public void closeStdin(String containerId, String execId) {
    // The stdin pump closes the guest's stdin when containerd's side ends; nothing more to do.
    process(container(containerId), execId);
  }

  @Override
  public List<Integer> pids(String containerId) {
    container(containerId);
    return sandbox.agent().listProcesses(containerId).getPidsList();
  }

  @Override
  public Any stats(String containerId) {
    container(containerId);
    var s = sandbox.agent().stats(containerId);
    // The guest's cgroup v2 numbers, in containerd's cgroup v2 metrics type (what CRI decodes).
    // The type URL is the bare message name, as containerd's own shims send it: 1.6 looks it up
    // verbatim and knows no "type.googleapis.com/" form.
    var metrics =
        Metrics.newBuilder()
            .setPids(PidsStat.newBuilder().setCurrent(s.getPidsCurrent()))
            .setCpu(
                CPUStat.newBuilder()
                    .setUsageUsec(s.getCpuUsageUsec())
                    .setUserUsec(s.getCpuUserUsec())
                    .setSystemUsec(s.getCpuSystemUsec()))
            .setMemory(
                MemoryStat.newBuilder()
                    .setUsage(s.getMemoryUsageBytes())
                    .setUsageLimit(s.getMemoryLimitBytes()))
            .setMemoryEvents(MemoryEvents.newBuilder().setOomKill(s.getOomKills()))
            .build();
    return Any.newBuilder()
        .setTypeUrl(Metrics.getDescriptor().getFullName())
        .setValue(metrics.toByteString())
        .build();
  }

  @Override
  public void update(String containerId, Any resources, Map<String, String> annotations) {
    container(containerId);
    sandbox.agent().updateContainer(containerId, resources.getValue().toByteArray());
  }

  @Override
  public void pause(String containerId) {
    container(containerId);
    sandbox.agent().pauseContainer(containerId);
  }

  @Override
  public void resume(String containerId) {
    container(containerId);
    sandbox.agent().resumeContainer(containerId);
  }

  @Override
  public void shutdown() {
    closeSandbox();
  }

  private synchronized void closeSandbox() {
    Sandbox sb = sandbox;
    // Cleared first: the VM's exit during close is expected (see vmExited).
    sandbox = null;
    if (sb != null) {
      sb.close();
    }
    if (cgroup != null) {
      cgroup.remove();
      cgroup = null;
    }
    // After the VM: QEMU holds the taps open until it is gone.
    if (network != null) {
      network.detach();
      network = null;
    }
    HostMounts.unmountAllUnder(shareDir);
    RunDirs.deleteQuietly(runDir);
  }

  @Override
  public void onOom(Consumer<String> listener) {
    oomListeners.add(listener);
  }

  private void forwardOomEvents() {
    Sandbox sb = sandbox;
    while (sb != null && !sb.vm().exited().isDone()) {
      try {
        String id = sb.agent().nextOomEvent().getContainerId();
        oomListeners.forEach(l -> l.accept(id));
      } catch (AgentException e) {
        return; // the agent connection is gone: the sandbox is closing
      }
    }
  }

  private Container container(String id) {
    Container c = containers.get(id);
    if (c == null) {
      throw new TtrpcException(Code.NOT_FOUND, "container " + id + " not found");
    }
    return c;
  }

  private static Proc process(Container c, String execId) {
    Proc p = c.processes().get(execId);
    if (p == null) {
      throw new TtrpcException(Code.NOT_FOUND, "process " + execId + " not found in " + c.id());
    }
    return p;
  }

  private static void closeQuietly(OutputStream out) {
    try {
      out.close();
    } catch (IOException e) {
      // the reader went away
    }
  }

  /**
   * containerd's delete after a dead shim, once per container: a container's own share and rootfs
   * mounts; for the pod's sandbox container (the one the shim was grouped by) the whole pod too:
   * taps, every mount and the run directory. Its VM died with the shim (tied to its life).
   */
  static void cleanup(ShimContext context) {
    Path dir = runDirOf(context); // checks every id before anything is killed or removed
    if (context.id().equals(context.groupId())) {
      // The pod's VM and helpers normally died with its shim; one that outlived it (or raced its
      // stop) must not keep the mounts and taps removed below busy.
      RunDirs.killProcessesUsing(dir);
    }
    HostMounts.unmountAllUnder(context.bundle().resolve("rootfs"));
    if (!context.id().equals(context.groupId())) {
      Ids.requireValid("container id", context.id());
      HostMounts.unmountAllUnder(dir.resolve("shared").resolve(context.id()));
      RunDirs.deleteQuietly(dir.resolve("shared").resolve(context.id()));
      return;
    }
    try {
      Path netns = dir.resolve(NETNS_FILE);
      if (Files.isRegularFile(netns)) {
        PodNetwork.detachAll(Path.of(Files.readString(netns).strip()));
      }
    } catch (IOException | RuntimeException e) {
      LOG.warning("pod " + context.groupId() + ": removing its network: " + e.getMessage());
    }
    HostMounts.unmountAllUnder(dir);
    RunDirs.deleteQuietly(dir);
  }
}
