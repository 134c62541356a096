package dev.kataoperator.installer;

/** The KataConfig's {@code spec.virtualization}, as the operator passes it in the environment. */
public enum VirtualizationPolicy {
  /** Only nodes where KVM runs our guest get Kata. The default. */
  RequireHardware,
  /**
   * Nodes without usable KVM run Kata under QEMU's software emulation (TCG): slow, but anywhere.
   */
  AllowSoftwareEmulation;

  public static VirtualizationPolicy parse(String s) {
    for (VirtualizationPolicy p : values()) {
      if (p.name().equals(s)) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "virtualization policy must be RequireHardware or AllowSoftwareEmulation: '" + s + "'");
  }
}
