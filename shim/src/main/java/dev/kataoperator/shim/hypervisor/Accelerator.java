package dev.kataoperator.shim.hypervisor;

import dev.kataoperator.contract.HostVirtualization;
import java.util.Locale;

/** How QEMU executes guest code. */
public enum Accelerator {
  KVM,
  TCG;

  /** The accel setting of a runtime config. */
  public enum Mode {
    AUTO,
    KVM,
    TCG;

    public static Mode parse(String value) {
      try {
        return valueOf(value.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "accel must be one of auto, kvm, tcg; got '" + value + "'");
      }
    }
  }

  /**
   * Chooses the accelerator for {@code mode} on {@code host}. Software emulation is never chosen
   * silently where KVM works: AUTO picks KVM there; AUTO falls back to TCG only where KVM cannot
   * run our guest, and the caller logs {@link Choice#reason()}.
   */
  public static Choice choose(Mode mode, HostVirtualization host) {
    return switch (mode) {
      case KVM -> {
        if (!host.kvmUsable()) {
          throw new HypervisorException(
              "accel = \"kvm\" but KVM cannot run the guest here: "
                  + host.reason()
                  + "; set accel = \"tcg\" (slow software emulation) or use a node with hardware"
                  + " or nested virtualization");
        }
        yield new Choice(KVM, "accel = kvm: " + host.reason());
      }
      case TCG -> new Choice(TCG, "accel = tcg (software emulation) as configured");
      case AUTO ->
          host.kvmUsable()
              ? new Choice(KVM, "KVM: " + host.reason())
              : new Choice(TCG, "software emulation (TCG) because " + host.reason());
    };
  }

  /** An accelerator and the one-line reason it was chosen. */
  public record Choice(Accelerator accelerator, String reason) {}
}
