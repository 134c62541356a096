package dev.kataoperator.contract;

import java.util.Arrays;
import java.util.Optional;

/**
 * What a node offers for running VMs. The names are the values of the {@code
 * kataoperator.dev/virtualization} node annotation.
 */
public enum Virtualization {
  /** vmx/svm on bare metal, kvm_intel or kvm_amd loaded. */
  hardware,
  /** vmx/svm exposed by an outer hypervisor (nested virtualization). */
  nested,
  /** /dev/kvm backed by kvm_pvm: needs a PVM guest kernel, which ours is not. */
  pvm,
  /** No usable /dev/kvm: only software emulation (TCG) can run a VM. */
  none;

  /** True when KVM can run our (non-PVM) guest kernel. */
  public boolean kvmUsable() {
    return this == hardware || this == nested;
  }

  /** The value as written on the node; the same as {@link #name()}. */
  public String label() {
    return name();
  }

  /** Parses an annotation value; empty for anything else (an older or newer installer). */
  public static Optional<Virtualization> parse(String value) {
    return Arrays.stream(values()).filter(v -> v.name().equals(value)).findFirst();
  }
}
