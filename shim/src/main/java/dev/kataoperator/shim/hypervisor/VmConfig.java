package dev.kataoperator.shim.hypervisor;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything a hypervisor needs to boot one sandbox VM.
 *
 * @param id sandbox id, used in process names and logs
 * @param runDir private directory for this VM's sockets and logs; removed by the caller
 * @param kernel guest kernel (uncompressed vmlinux, PVH entry)
 * @param initrd guest rootfs as an initramfs
 * @param memoryMiB guest RAM
 * @param vcpus guest vCPUs
 * @param accel the chosen accelerator
 * @param kernelParams extra kernel command-line parameters
 * @param sharedDirs host directories exported to the guest
 * @param nics network interfaces (tap devices) to attach
 * @param netns network namespace to run the hypervisor in (the pod's), so it can open the taps
 *     there; empty for the host's
 */
public record VmConfig(
    String id,
    Path runDir,
    Path kernel,
    Path initrd,
    int memoryMiB,
    int vcpus,
    Accelerator accel,
    List<String> kernelParams,
    List<SharedDir> sharedDirs,
    List<Nic> nics,
    Optional<Path> netns) {

  public VmConfig {
    Objects.requireNonNull(id);
    Objects.requireNonNull(runDir);
    Objects.requireNonNull(kernel);
    Objects.requireNonNull(initrd);
    Objects.requireNonNull(accel);
    if (memoryMiB < 64) {
      throw new IllegalArgumentException("memory must be at least 64 MiB, got " + memoryMiB);
    }
    if (vcpus < 1) {
      throw new IllegalArgumentException("vcpus must be at least 1, got " + vcpus);
    }
    kernelParams = List.copyOf(kernelParams);
    sharedDirs = List.copyOf(sharedDirs);
    nics = List.copyOf(nics);
    Objects.requireNonNull(netns);
  }

  /** How a host directory reaches the guest. */
  public enum ShareKind {
    VIRTIO_FS,
    VIRTIO_9P
  }

  /** A host directory exported under a mount tag. */
  public record SharedDir(String tag, Path hostPath, ShareKind kind, boolean readOnly) {}

  /** A tap device (already created, in the namespace QEMU runs in) and the guest MAC. */
  public record Nic(String id, String tapName, String macAddress) {}
}
