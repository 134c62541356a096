package dev.kataoperator.contract;

/**
 * What a pod's VM costs beyond its containers' limits, defined once for the shim's shipped config
 * (the VM's base memory) and the operator's RuntimeClass overhead, so that they agree: kubelet
 * sizes a pod's cgroup as its containers' limits plus the RuntimeClass's {@code overhead.podFixed},
 * the shim boots a VM of {@link #GUEST_BASE_MIB} plus those limits, and QEMU (all of the guest's
 * RAM, once touched, and its own) runs in that cgroup. An overhead below the VM's size lets the
 * node's OOM killer end a pod whose containers stay within their limits.
 */
public final class PodOverhead {
  private PodOverhead() {}

  /** The VM's memory before the containers' limits are added: the payload's default_memory. */
  public static final int GUEST_BASE_MIB = 256;

  /**
   * QEMU's own memory beyond guest RAM, with room: device emulation and buffers (~35 MiB measured
   * under emulation), the TCG translation cache where there is no KVM (capped, see the shim's
   * QemuArgs), and virtiofsd for classes that share over virtio-fs.
   */
  public static final int HYPERVISOR_MIB = 96;

  /** The RuntimeClass's memory overhead, a Kubernetes quantity. */
  public static final String MEMORY = GUEST_BASE_MIB + HYPERVISOR_MIB + "Mi";

  /** The RuntimeClass's CPU overhead: QEMU's I/O threads and the shim, a Kubernetes quantity. */
  public static final String CPU = "250m";
}
