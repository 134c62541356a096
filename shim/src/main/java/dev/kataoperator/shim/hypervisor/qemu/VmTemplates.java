package dev.kataoperator.shim.hypervisor.qemu;

import dev.kataoperator.shim.hypervisor.HypervisorException;
import dev.kataoperator.shim.hypervisor.Vm;
import dev.kataoperator.shim.hypervisor.VmConfig;
import dev.kataoperator.shim.hypervisor.VmConfig.ShareKind;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;

/**
 * VM templates (Kata Containers' VM templating): per VM shape (QEMU, kernel, initrd, memory, vCPUs,
 * kernel command line, devices) one guest is booted until its agent listens, paused, and kept as
 * its RAM in a file and its device state (a few hundred KiB); every VM of that shape is then
 * restored from it instead of booting. A restored VM maps the template's RAM private: pages it only
 * reads stay in the page cache, shared by all VMs of the template; a page it writes becomes its
 * own. The guest must then adopt its own identity (random generator reseeded, clock set: Sandbox
 * does it through the agent) before anything runs in it.
 *
 * <p>Templates live under one directory per shape, named by a hash of everything the shape is made
 * of (files by path, size and modification time), so a new kernel, rootfs, QEMU or configuration
 * makes a new template on first use; the first VM of a shape builds it, under a lock, and others
 * wait. Only VMs without NICs and with 9p shares fit (a NIC's MAC and a vhost-user device's memory
 * are part of the state; they boot as usual).
 */
final class VmTemplates {
  private static final System.Logger LOG = System.getLogger(VmTemplates.class.getName());

  /**
   * Printed by the agent once it serves ttrpc (guest/agent/src/transport.rs): the moment to save.
   */
  static final String AGENT_LISTENING = "serving ttrpc on";

  /** How long the template's guest may take to reach its agent: a cold boot, on a busy node. */
  private static final Duration TEMPLATE_BOOT_TIMEOUT = Duration.ofSeconds(120);

  private static final String FORMAT = "kata-template-1";

  private final Path root;
  private final QemuHypervisor qemu;

  VmTemplates(Path root, QemuHypervisor qemu) {
    this.root = root;
    this.qemu = qemu;
  }

  /** Whether a VM of {@code config} can come from a template. */
  static boolean fits(VmConfig config) {
    return config.nics().isEmpty()
        && config.netns().isEmpty()
        && config.sharedDirs().stream().allMatch(s -> s.kind() == ShareKind.VIRTIO_9P);
  }

  /** Restores a VM of {@code config} from its shape's template, building the template first. */
  Vm launch(VmConfig config) {
    long t0 = System.nanoTime();
    Path dir;
    try {
      // Root's only: a template's memory holds its guest kernel's secrets (address layout, the
      // random generator's state before each VM reseeds it).
      Files.createDirectories(root);
      Files.setPosixFilePermissions(
          root, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
      dir = root.resolve(key(config));
      Files.createDirectories(dir);
      try (FileChannel lock =
              FileChannel.open(
                  dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
          var ignored = lock.lock()) {
        if (!Files.isRegularFile(dir.resolve("state"))) {
          build(config, dir);
        }
      }
    } catch (IOException e) {
      throw new HypervisorException("VM template for sandbox " + config.id() + ": " + e, e);
    }
    GuestConsole console = null;
    QemuVm vm = null;
    try {
      console = GuestConsole.listen(config.runDir().resolve(QemuHypervisor.CONSOLE_SOCKET));
      List<String> cmd =
          qemu.commandLine(
              config,
              new QemuArgs.FileMemory(config.memoryMiB(), dir.resolve("memory"), false),
              List.of(new QemuArgs.IncomingDeferred()));
      vm = QemuVm.start(cmd, config.runDir(), List.of(), console, QemuHypervisor.startTimeout());
      vm.restoreFrom(dir.resolve("state"));
      LOG.log(
          Level.INFO,
          "sandbox {0}: restored from VM template {1} in {2} ms",
          config.id(),
          dir.getFileName(),
          (System.nanoTime() - t0) / 1_000_000);
      return vm;
    } catch (IOException | RuntimeException e) {
      if (vm != null) {
        vm.stop(Duration.ZERO);
      } else if (console != null) {
        console.close();
      }
      if (e instanceof HypervisorException he) {
        throw he;
      }
      throw new HypervisorException(
          "cannot restore sandbox " + config.id() + " from its VM template: " + e, e);
    }
  }

  /** Boots the template's guest until its agent listens, then saves it: RAM and device state. */
  private void build(VmConfig config, Path dir) throws IOException {
    long t0 = System.nanoTime();
    Path boot = dir.resolve("boot");
    deleteTree(boot);
    Files.createDirectories(boot.resolve("share"));
    VmConfig template = templateConfig(config, boot);
    GuestConsole console = GuestConsole.listen(boot.resolve(QemuHypervisor.CONSOLE_SOCKET));
    QemuVm vm = null;
    try {
      List<String> cmd =
          qemu.commandLine(
              template,
              new QemuArgs.FileMemory(config.memoryMiB(), dir.resolve("memory"), true),
              List.of());
      vm = QemuVm.start(cmd, boot, List.of(), console, QemuHypervisor.startTimeout());
      long deadline = System.nanoTime() + TEMPLATE_BOOT_TIMEOUT.toNanos();
      // The agent must not have a host connection when the guest is saved: each VM restored from
      // it connects anew.
      while (!vm.consoleTail(50).contains(AGENT_LISTENING)) {
        if (vm.exited().isDone() || System.nanoTime() > deadline) {
          throw new HypervisorException(
              "the VM template's guest did not start its agent within "
                  + TEMPLATE_BOOT_TIMEOUT.toSeconds()
                  + " s; guest console:\n"
                  + vm.consoleTail(20));
        }
        Thread.sleep(20);
      }
      Path saving = dir.resolve("state.saving");
      vm.saveTo(saving);
      Files.move(saving, dir.resolve("state"), StandardCopyOption.ATOMIC_MOVE);
      LOG.log(
          Level.INFO,
          "VM template {0} built in {1} ms",
          dir.getFileName(),
          (System.nanoTime() - t0) / 1_000_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HypervisorException("interrupted while building a VM template", e);
    } finally {
      if (vm != null) {
        vm.stop(Duration.ZERO);
      } else {
        console.close();
      }
      deleteTree(boot);
    }
  }

  /** Removes the template's boot directory (sockets, QEMU's log, the empty share). */
  private static void deleteTree(Path dir) {
    if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (var paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      LOG.log(Level.WARNING, "cannot remove " + dir + ": " + e.getMessage());
    }
  }

  /** The template's own VM: {@code config}'s shape, with its sockets and empty shares in boot. */
  private static VmConfig templateConfig(VmConfig config, Path boot) {
    return new VmConfig(
        "template",
        boot,
        config.kernel(),
        config.initrd(),
        config.memoryMiB(),
        config.vcpus(),
        config.accel(),
        config.kernelParams(),
        config.sharedDirs().stream()
            .map(
                s -> new VmConfig.SharedDir(s.tag(), boot.resolve("share"), s.kind(), s.readOnly()))
            .toList(),
        List.of(),
        java.util.Optional.empty());
  }

  /**
   * The shape's name: a hash of the template's command line (devices, memory, vCPUs, kernel command
   * line; its paths are the template's own, the same for every VM of the shape) and of the identity
   * of the files it runs.
   */
  private String key(VmConfig config) throws IOException {
    var text = new StringBuilder(FORMAT).append('\n');
    Path canonical = Path.of("/template");
    VmConfig shape = templateConfig(config, canonical);
    text.append(
            String.join(
                " ",
                qemu.commandLine(
                    shape,
                    new QemuArgs.FileMemory(config.memoryMiB(), canonical.resolve("memory"), true),
                    List.of())))
        .append('\n');
    for (Path f : List.of(qemu.qemuBinary(), config.kernel(), config.initrd())) {
      Path real = f.toRealPath();
      text.append(real)
          .append(' ')
          .append(Files.size(real))
          .append(' ')
          .append(Files.getLastModifiedTime(real).toMillis())
          .append('\n');
    }
    try {
      byte[] d =
          MessageDigest.getInstance("SHA-256")
              .digest(text.toString().getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
