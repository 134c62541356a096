package dev.kataoperator.shim.sandbox;

import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.agent.v1.CreateSandboxRequest;
import dev.kataoperator.agent.v1.HealthResponse;
import dev.kataoperator.agent.v1.SharedFilesystem;
import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.hypervisor.Accelerator;
import dev.kataoperator.shim.hypervisor.Hypervisor;
import dev.kataoperator.shim.hypervisor.HypervisorException;
import dev.kataoperator.shim.hypervisor.Vm;
import dev.kataoperator.shim.hypervisor.VmConfig;
import dev.kataoperator.shim.hypervisor.VmConfig.ShareKind;
import dev.kataoperator.shim.hypervisor.VmConfig.SharedDir;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A pod sandbox: one VM and the agent inside it. Booting either yields a sandbox whose agent
 * answered, or throws and leaves no process behind. The run directory is the caller's: it holds the
 * caller's records too (a pod's cgroups and network), which its own teardown reads after the VM is
 * gone, so the caller removes it.
 */
public final class Sandbox implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(Sandbox.class.getName());

  /** Where the guest mounts the host's shared directory for this sandbox. */
  public static final String GUEST_SHARED_DIR = "/run/kata/shared";

  static final String SHARED_TAG = "kataShared";

  private final String id;
  private final Path runDir;
  private final Vm vm;
  private final AgentClient agent;
  private final HealthResponse health;
  private final Duration createContainerTimeout;
  private volatile boolean closed;

  private Sandbox(
      String id,
      Path runDir,
      Vm vm,
      AgentClient agent,
      HealthResponse health,
      Duration createContainerTimeout) {
    this.id = id;
    this.runDir = runDir;
    this.vm = vm;
    this.agent = agent;
    this.health = health;
    this.createContainerTimeout = createContainerTimeout;
  }

  /**
   * Creates a container in the guest within the config's {@code create_container_timeout}: the
   * guest's share of a busy node's CPUs decides how long that takes, not a constant.
   */
  public void createContainer(CreateContainerRequest request) {
    agent.createContainer(request, createContainerTimeout);
  }

  /**
   * What a sandbox is booted with.
   *
   * @param id sandbox id ([A-Za-z0-9_.-], at most 64)
   * @param runDir private directory for sockets and logs; created here if missing, removed by the
   *     caller after close
   * @param sharedDir host directory the guest sees at {@link #GUEST_SHARED_DIR}
   * @param sharedReadOnly export it read-only
   * @param memoryMiB guest memory, 0 for the config's default
   * @param vcpus guest vCPUs, 0 for the config's default
   * @param hostname the guest's hostname
   * @param netns the pod's network namespace, where the hypervisor runs; empty for none
   * @param nics tap devices in that namespace to attach
   */
  public record Spec(
      String id,
      Path runDir,
      Path sharedDir,
      boolean sharedReadOnly,
      int memoryMiB,
      int vcpus,
      String hostname,
      Optional<Path> netns,
      List<VmConfig.Nic> nics) {
    public Spec {
      Ids.requireValid("sandbox id", id);
      nics = List.copyOf(nics);
    }

    /** A sandbox without networking. */
    public Spec(
        String id,
        Path runDir,
        Path sharedDir,
        boolean sharedReadOnly,
        int memoryMiB,
        int vcpus,
        String hostname) {
      this(
          id,
          runDir,
          sharedDir,
          sharedReadOnly,
          memoryMiB,
          vcpus,
          hostname,
          Optional.empty(),
          List.of());
    }
  }

  /** Boots the VM, waits for the agent and creates the sandbox in the guest. */
  public static Sandbox boot(
      Spec spec, RuntimeConfig config, Hypervisor hypervisor, HostVirtualization host) {
    return boot(spec, config, hypervisor, host, Timeline.sinceProcessStart());
  }

  /** As {@link #boot(Spec, RuntimeConfig, Hypervisor, HostVirtualization)}, recording phases. */
  public static Sandbox boot(
      Spec spec,
      RuntimeConfig config,
      Hypervisor hypervisor,
      HostVirtualization host,
      Timeline timeline) {
    Accelerator.Choice accel = Accelerator.choose(config.accel(), host);
    LOG.log(Level.INFO, "sandbox " + spec.id() + ": " + accel.reason());
    try {
      Files.createDirectories(spec.runDir());
    } catch (IOException e) {
      throw new SandboxException("cannot create run directory " + spec.runDir() + ": " + e, e);
    }
    Vm vm = null;
    AgentClient agent = null;
    try {
      var share =
          new SharedDir(SHARED_TAG, spec.sharedDir(), config.sharedFs(), spec.sharedReadOnly());
      var params = new ArrayList<>(config.kernelParams());
      if (config.debug()) {
        params.add("agent.log=debug");
      }
      vm =
          hypervisor.launch(
              new VmConfig(
                  spec.id(),
                  spec.runDir(),
                  config.kernel(),
                  config.initrd(),
                  spec.memoryMiB() > 0 ? spec.memoryMiB() : config.defaultMemoryMiB(),
                  spec.vcpus() > 0 ? spec.vcpus() : config.defaultVcpus(),
                  accel.accelerator(),
                  params,
                  List.of(share),
                  spec.nics(),
                  spec.netns()));
      timeline.mark(Timeline.QEMU);
      agent = connectAgent(vm, config);
      HealthResponse health = waitForAgent(vm, agent, config.agentBootTimeout());
      long answered = System.nanoTime();
      timeline.markAt(Timeline.AGENT_READY, answered);
      if (!vm.restoredFromTemplate()) {
        // A booted guest's own timeline; a restored one's would be its template's boot.
        timeline.markGuest(health, answered);
      } else {
        // Before anything runs in it: every VM of a template starts with the template's random
        // generator state and clock.
        byte[] entropy = new byte[64];
        new java.security.SecureRandom().nextBytes(entropy);
        String bootId = agent.adoptIdentity(entropy, java.time.Instant.now());
        LOG.log(Level.INFO, "sandbox " + spec.id() + ": own identity adopted, boot_id " + bootId);
      }
      agent.createSandbox(
          CreateSandboxRequest.newBuilder()
              .setSandboxId(spec.id())
              .setHostname(spec.hostname())
              .addSharedFilesystems(
                  SharedFilesystem.newBuilder()
                      .setKind(
                          config.sharedFs() == ShareKind.VIRTIO_FS
                              ? SharedFilesystem.Kind.VIRTIO_FS
                              : SharedFilesystem.Kind.VIRTIO_9P)
                      .setTag(SHARED_TAG)
                      .setMountPoint(GUEST_SHARED_DIR))
              .build());
      timeline.mark(Timeline.SANDBOX);
      return new Sandbox(
          spec.id(), spec.runDir(), vm, agent, health, config.createContainerTimeout());
    } catch (RuntimeException e) {
      if (agent != null) {
        agent.close();
      }
      if (vm != null) {
        vm.stop(Duration.ZERO);
      }
      throw e;
    }
  }

  private static AgentClient connectAgent(Vm vm, RuntimeConfig config) {
    try {
      return AgentClient.connect(
          vm.agentSocket(),
          new AgentClient.Deadlines(config.agentCallTimeout(), config.agentShutdownTimeout()));
    } catch (IOException e) {
      throw new SandboxException(
          "cannot connect to the agent socket " + vm.agentSocket() + ": " + e.getMessage(), e);
    }
  }

  /** One Health call that may wait for the whole boot; a dying VM cuts the wait short. */
  private static HealthResponse waitForAgent(Vm vm, AgentClient agent, Duration timeout) {
    // The VM dying closes the client, which fails the pending call at once.
    vm.exited().thenRun(agent::close);
    try {
      return agent.health(timeout);
    } catch (AgentException e) {
      if (vm.exited().isDone()) {
        throw new SandboxException(
            "the VM exited while booting (exit code "
                + vm.exited().join()
                + "); guest console:\n"
                + vm.consoleTail(15),
            e);
      }
      throw new SandboxException(
          "the guest agent did not answer within "
              + timeout.toSeconds()
              + " s ("
              + e.getMessage()
              + "); raise agent.boot_timeout or check the guest console:\n"
              + vm.consoleTail(15),
          e);
    } catch (HypervisorException e) {
      throw new SandboxException(e.getMessage(), e);
    }
  }

  public String id() {
    return id;
  }

  public AgentClient agent() {
    return agent;
  }

  public Vm vm() {
    return vm;
  }

  public HealthResponse health() {
    return health;
  }

  public Path runDir() {
    return runDir;
  }

  /**
   * Powers the guest off through the agent (it syncs first), then makes sure the VM and every
   * helper are gone and removes the run directory. Safe to call more than once.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    Duration grace = Duration.ZERO;
    if (!vm.exited().isDone()) {
      try {
        agent.destroySandbox();
        grace = Duration.ofSeconds(5);
      } catch (AgentException e) {
        LOG.log(
            Level.WARNING,
            "sandbox " + id + ": DestroySandbox failed (" + e.getMessage() + "); killing");
      }
    }
    agent.close();
    vm.stop(grace);
  }
}
