package dev.kataoperator.shim.sandbox;

import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.hypervisor.Hypervisor;
import dev.kataoperator.shim.hypervisor.qemu.QemuHypervisor;

/** Builds the hypervisor a runtime configuration names: where a second backend plugs in. */
public final class Hypervisors {
  private Hypervisors() {}

  /** The hypervisor for {@code config} (QEMU, the one backend today). */
  public static Hypervisor forConfig(RuntimeConfig config) {
    return new QemuHypervisor(config.qemuPath(), config.virtiofsd(), config.templates());
  }
}
