package dev.kataoperator.contract;

/**
 * The KataConfig's {@code spec.virtualization}, passed to the installer in {@link
 * InstallerContract#ENV_VIRTUALIZATION_POLICY} and carried into each node's shim configuration.
 */
public enum VirtualizationPolicy {
  /** Only nodes where KVM runs our guest get Kata. The default. */
  RequireHardware,
  /**
   * Nodes without usable KVM run Kata under QEMU's software emulation (TCG): slow, but anywhere.
   * Never chosen where KVM works.
   */
  AllowSoftwareEmulation;

  /** Parses the environment's spelling; a clear error for anything else. */
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
