package dev.kataoperator.shim.hypervisor.qemu;

import dev.kataoperator.shim.hypervisor.Accelerator;
import dev.kataoperator.shim.hypervisor.Hypervisor;
import dev.kataoperator.shim.hypervisor.HypervisorException;
import dev.kataoperator.shim.hypervisor.Spawner;
import dev.kataoperator.shim.hypervisor.Vm;
import dev.kataoperator.shim.hypervisor.VmConfig;
import dev.kataoperator.shim.hypervisor.VmConfig.ShareKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Boots sandbox VMs with QEMU: a {@code pc} machine, direct kernel boot, virtio everywhere. */
public final class QemuHypervisor implements Hypervisor {
  /** The console's socket in the run directory (short: unix socket paths have 107 bytes). */
  static final String CONSOLE_SOCKET = "con.sock";

  /** The virtio-serial port the agent serves on; the agent finds it by this name in sysfs. */
  public static final String AGENT_PORT = "agent.0";

  private static final Duration START_TIMEOUT = Duration.ofSeconds(10);

  /**
   * What QEMU keeps of root's capabilities: its 9p server acting on the share's files as the guest
   * asks (ownership, modes, files of any owner) and attaching to the pod's tap. Everything else
   * leaves its bounding set before it runs: no mknod (a guest cannot make a device node on the host
   * through 9p), no sys_admin, sys_ptrace, sys_module, net_raw, setuid or kill.
   */
  static final Set<String> QEMU_CAPABILITIES =
      Set.of("chown", "dac_override", "dac_read_search", "fowner", "fsetid", "net_admin");

  // Kept short: under TCG every console byte costs, and the kernel must not linger on panic.
  private static final List<String> BASE_KERNEL_PARAMS =
      List.of(
          "console=ttyS0",
          "quiet",
          "panic=-1",
          "reboot=t",
          "tsc=reliable",
          "no_timer_check",
          "noreplace-smp",
          "rcupdate.rcu_expedited=1",
          "pci=lastbus=0");

  private final Path qemuBinary;
  private final Optional<Path> virtiofsd;
  private final Optional<Path> templates;

  /**
   * @param qemuBinary qemu-system-x86_64
   * @param virtiofsd the virtiofsd binary, needed only for virtio-fs shares
   */
  public QemuHypervisor(Path qemuBinary, Optional<Path> virtiofsd) {
    this(qemuBinary, virtiofsd, Optional.empty());
  }

  /**
   * @param templates where VM templates are kept, when the runtime class uses them ({@link
   *     #launch})
   */
  public QemuHypervisor(Path qemuBinary, Optional<Path> virtiofsd, Optional<Path> templates) {
    this.qemuBinary = qemuBinary;
    this.virtiofsd = virtiofsd;
    this.templates = templates;
  }

  @Override
  public String name() {
    return "qemu";
  }

  @Override
  public Vm launch(VmConfig config) {
    requireFile(qemuBinary, "QEMU binary", true);
    requireFile(config.kernel(), "guest kernel", false);
    requireFile(config.initrd(), "guest rootfs", false);
    if (templates.isPresent() && VmTemplates.fits(config)) {
      return new VmTemplates(templates.get(), this).launch(config);
    }
    List<Process> helpers = new ArrayList<>();
    GuestConsole console = null;
    try {
      console = GuestConsole.listen(config.runDir().resolve(CONSOLE_SOCKET));
      boolean virtioFs =
          config.sharedDirs().stream().anyMatch(s -> s.kind() == ShareKind.VIRTIO_FS);
      List<QemuArgs.Arg> args = new ArrayList<>(baseArgs(config, virtioFs));
      for (var share : config.sharedDirs()) {
        if (share.kind() == ShareKind.VIRTIO_9P) {
          args.add(new QemuArgs.NinePShare(share.tag(), share.hostPath(), share.readOnly()));
        } else {
          Path sock = config.runDir().resolve("vfs-" + share.tag() + ".sock");
          helpers.add(Virtiofsd.start(virtiofsdBinary(), share, sock, config.runDir()));
          args.add(new QemuArgs.VirtioFsShare(share.tag(), sock));
        }
      }
      for (var nic : config.nics()) {
        args.add(new QemuArgs.TapNic(nic.id(), nic.tapName(), nic.macAddress()));
      }
      List<String> cmd =
          Spawner.withOnlyCapabilities(QEMU_CAPABILITIES, QemuArgs.commandLine(qemuBinary, args));
      if (config.netns().isPresent()) {
        // QEMU opens the pod's tap devices by name, so it must run in the pod's netns; its
        // control and agent sockets are path-based and unaffected.
        var inNetns = new ArrayList<>(List.of("nsenter", "--net=" + config.netns().get(), "--"));
        inNetns.addAll(cmd);
        cmd = inNetns;
      }
      return QemuVm.start(cmd, config.runDir(), helpers, console, START_TIMEOUT);
    } catch (IOException e) {
      helpers.forEach(Process::destroyForcibly);
      if (console != null) {
        console.close();
      }
      throw new HypervisorException("cannot start QEMU for sandbox " + config.id() + ": " + e, e);
    } catch (RuntimeException e) {
      helpers.forEach(Process::destroyForcibly);
      if (console != null) {
        console.close();
      }
      throw e;
    }
  }

  /**
   * Needed under TCG whenever a vhost-user device (virtiofsd) writes guest RAM. TCG caches the code
   * it translated per guest-physical page and drops it only when a write it sees (the guest CPU's,
   * or QEMU's own device DMA as for 9p) hits that page. virtiofsd writes file data straight into
   * the shared memfd, unseen: when the guest reuses a freed page that once held executed code as
   * page cache for a virtio-fs file, TCG runs the old translation, and binaries read over virtio-fs
   * crash (SIGSEGV, jumps into the middle of instructions). With init_on_alloc the guest CPU zeroes
   * every page it allocates, so TCG drops stale translations before the page reaches virtiofsd.
   * (init_on_free=1 works too but zeroes all of RAM at boot: ~0.3 s more under TCG, against ~0.05
   * s.) KVM runs guest memory directly and needs none of this.
   */
  static final String TCG_VHOST_USER_KERNEL_PARAM = "init_on_alloc=1";

  private List<QemuArgs.Arg> baseArgs(VmConfig config, boolean sharedMemory) {
    return baseArgs(config, sharedMemory, new QemuArgs.Memory(config.memoryMiB(), sharedMemory));
  }

  private List<QemuArgs.Arg> baseArgs(VmConfig config, boolean sharedMemory, QemuArgs.Arg memory) {
    var params = new ArrayList<>(BASE_KERNEL_PARAMS);
    boolean kvm = config.accel() == Accelerator.KVM;
    if (sharedMemory && !kvm) {
      params.add(TCG_VHOST_USER_KERNEL_PARAM);
    }
    if (!kvm) {
      // The guest's TSC is the host's; without its frequency the guest ticks 250 times a second
      // even when idle (HostTsc). Under KVM the guest has kvm-clock.
      HostTsc.khz().ifPresent(khz -> params.add("tsc_early_khz=" + khz));
    }
    params.addAll(config.kernelParams());
    return List.of(
        QemuArgs.Flags.defaults(),
        new QemuArgs.Machine("pc"),
        kvm ? QemuArgs.Accel.kvm() : QemuArgs.Accel.tcg(),
        // -cpu host needs real KVM; under TCG "max" gives the guest every feature QEMU emulates.
        new QemuArgs.Cpu(kvm ? "host" : "max"),
        memory,
        new QemuArgs.Smp(config.vcpus()),
        new QemuArgs.Kernel(config.kernel(), config.initrd(), String.join(" ", params)),
        new QemuArgs.Qmp(config.runDir().resolve("qmp.sock")),
        new QemuArgs.SerialConsole(config.runDir().resolve(CONSOLE_SOCKET)),
        new QemuArgs.Rng(),
        new QemuArgs.FreePageReporting(),
        new QemuArgs.VirtioSerialPort(AGENT_PORT, config.runDir().resolve("agent.sock")));
  }

  /**
   * QEMU's command line for a VM of {@code config} whose RAM is {@code memory} (VM templates: the
   * template and every VM restored from it must have the same devices), 9p shares only.
   */
  List<String> commandLine(VmConfig config, QemuArgs.Arg memory, List<QemuArgs.Arg> extra) {
    List<QemuArgs.Arg> args = new ArrayList<>(baseArgs(config, false, memory));
    for (var share : config.sharedDirs()) {
      args.add(new QemuArgs.NinePShare(share.tag(), share.hostPath(), share.readOnly()));
    }
    args.addAll(extra);
    return Spawner.withOnlyCapabilities(QEMU_CAPABILITIES, QemuArgs.commandLine(qemuBinary, args));
  }

  Path qemuBinary() {
    return qemuBinary;
  }

  static Duration startTimeout() {
    return START_TIMEOUT;
  }

  private Path virtiofsdBinary() {
    Path bin =
        virtiofsd.orElseThrow(
            () ->
                new HypervisorException(
                    "shared_fs = \"virtio-fs\" needs virtiofsd, but no virtiofsd path is"
                        + " configured; set virtiofsd or use shared_fs = \"virtio-9p\""));
    requireFile(bin, "virtiofsd", true);
    return bin;
  }

  private static void requireFile(Path path, String what, boolean executable) {
    if (!Files.isRegularFile(path)) {
      throw new HypervisorException(what + " not found at " + path + "; check the runtime config");
    }
    if (executable && !Files.isExecutable(path)) {
      throw new HypervisorException(what + " at " + path + " is not executable");
    }
  }
}
