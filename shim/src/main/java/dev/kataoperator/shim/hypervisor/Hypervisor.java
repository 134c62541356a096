package dev.kataoperator.shim.hypervisor;

/**
 * A virtual machine monitor that can boot a sandbox VM. QEMU is the one backend today; a second
 * (Firecracker) implements the same two methods.
 */
public interface Hypervisor {

  /** Short name, as in the runtime class (qemu, firecracker). */
  String name();

  /**
   * Starts a VM and returns once the hypervisor process is up and controllable. The guest may still
   * be booting; readiness of the guest is the agent's business.
   *
   * @throws HypervisorException with a message naming the cause; nothing is left running
   */
  Vm launch(VmConfig config);
}
