package dev.kataoperator.contract;

import java.util.Arrays;
import java.util.stream.Collectors;

/** Virtual machine monitors a runtime class can use; names as in the CRD and the environment. */
public enum Hypervisor {
  /** QEMU: the one backend the shim has; KVM, or software emulation where allowed. */
  qemu(true),
  /** Firecracker: kept in the API for the future; no shim backend exists yet. */
  firecracker(false);

  private final boolean supported;

  Hypervisor(boolean supported) {
    this.supported = supported;
  }

  /** Whether this release can run it. Unsupported values are refused with a clear message. */
  public boolean supported() {
    return supported;
  }

  public static Hypervisor parse(String s) {
    for (Hypervisor h : values()) {
      if (h.name().equals(s)) {
        return h;
      }
    }
    throw new IllegalArgumentException(
        "hypervisor must be one of "
            + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "))
            + ": '"
            + s
            + "'");
  }
}
