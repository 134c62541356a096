package dev.kataoperator.shim.hypervisor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What this host offers for running VMs. PVM (kvm_pvm) exposes a /dev/kvm that only guest kernels
 * built for PVM can use, so it must be told apart from real hardware virtualization instead of
 * being tried and timed out on.
 *
 * @param kind what was found
 * @param reason one line saying how it was decided, for logs and node annotations
 */
public record HostVirtualization(Kind kind, String reason) {

  /** The kinds a node can report; names are part of the node-annotation contract. */
  public enum Kind {
    /** vmx/svm on bare metal, kvm_intel or kvm_amd loaded. */
    HARDWARE,
    /** vmx/svm exposed by an outer hypervisor (nested virtualization). */
    NESTED,
    /** /dev/kvm backed by kvm_pvm: needs a PVM guest kernel, which ours is not. */
    PVM,
    /** No usable /dev/kvm: only software emulation (TCG) can run a VM. */
    NONE;

    public String label() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private static final Pattern FLAGS = Pattern.compile("(?m)^flags\\s*:\\s*(.*)$");

  /** True when KVM can run our (non-PVM) guest kernel. */
  public boolean kvmUsable() {
    return kind == Kind.HARDWARE || kind == Kind.NESTED;
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
          Kind.NONE, vmx ? "/dev/kvm is missing (is the kvm module loaded?)" : "no /dev/kvm");
    }
    if (Files.isDirectory(modules.resolve("kvm_pvm"))) {
      return new HostVirtualization(
          Kind.PVM, "/dev/kvm is provided by kvm_pvm, which cannot run a non-PVM guest kernel");
    }
    boolean vendorModule =
        Files.isDirectory(modules.resolve("kvm_intel"))
            || Files.isDirectory(modules.resolve("kvm_amd"));
    if (!vmx || !vendorModule) {
      return new HostVirtualization(
          Kind.NONE,
          "/dev/kvm exists but the CPU shows no vmx/svm or kvm_intel/kvm_amd is not loaded");
    }
    return underHypervisor
        ? new HostVirtualization(Kind.NESTED, "vmx/svm under an outer hypervisor")
        : new HostVirtualization(Kind.HARDWARE, "vmx/svm with kvm_intel/kvm_amd");
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
