package dev.kataoperator.contract;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What this host offers for running VMs, decided from its facts (never by booting and timing out).
 * PVM (kvm_pvm) exposes a /dev/kvm that only guest kernels built for PVM can use, so it must be
 * told apart from real hardware virtualization. Used by the shim (accelerator choice) and the
 * installer (node check and annotation), so both decide the same way.
 *
 * @param kind what was found
 * @param reason one line saying how it was decided, for logs and node annotations
 */
public record HostVirtualization(Virtualization kind, String reason) {

  private static final Pattern FLAGS = Pattern.compile("(?m)^flags\\s*:\\s*(.*)$");

  /** True when KVM can run our (non-PVM) guest kernel. */
  public boolean kvmUsable() {
    return kind.kvmUsable();
  }

  /** Probes the running host. */
  public static HostVirtualization probe() {
    return probe(Path.of("/"));
  }

  /** Probes a host whose /proc, /sys and /dev are under {@code root}; tests point it elsewhere. */
  public static HostVirtualization probe(Path root) {
    Path kvm = root.resolve("dev/kvm");
    Path modules = root.resolve("sys/module");
    Set<String> flags = cpuFlags(root.resolve("proc/cpuinfo"));
    boolean vmx = flags.contains("vmx") || flags.contains("svm");
    boolean underHypervisor = flags.contains("hypervisor");
    if (!Files.exists(kvm)) {
      return new HostVirtualization(
          Virtualization.none,
          vmx ? "/dev/kvm is missing (is the kvm module loaded?)" : "no /dev/kvm");
    }
    if (Files.isDirectory(modules.resolve("kvm_pvm"))) {
      return new HostVirtualization(
          Virtualization.pvm,
          "/dev/kvm is provided by kvm_pvm, which cannot run a non-PVM guest kernel");
    }
    boolean vendorModule =
        Files.isDirectory(modules.resolve("kvm_intel"))
            || Files.isDirectory(modules.resolve("kvm_amd"));
    if (!vmx || !vendorModule) {
      return new HostVirtualization(
          Virtualization.none,
          "/dev/kvm exists but the CPU shows no vmx/svm or kvm_intel/kvm_amd is not loaded");
    }
    return underHypervisor
        ? new HostVirtualization(Virtualization.nested, "vmx/svm under an outer hypervisor")
        : new HostVirtualization(Virtualization.hardware, "vmx/svm with kvm_intel/kvm_amd");
  }

  private static Set<String> cpuFlags(Path cpuinfo) {
    try {
      var m = FLAGS.matcher(Files.readString(cpuinfo));
      return m.find() ? Set.of(m.group(1).trim().split("\\s+")) : Set.of();
    } catch (IOException e) {
      return Set.of();
    }
  }
}
