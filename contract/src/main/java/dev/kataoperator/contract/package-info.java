/**
 * What the operator, the runtime-node-installer and the shim agree on, defined once: the installer
 * contract ({@link dev.kataoperator.contract.InstallerContract}), virtualization ({@link
 * dev.kataoperator.contract.Virtualization}, {@link dev.kataoperator.contract.HostVirtualization},
 * {@link dev.kataoperator.contract.VirtualizationPolicy}), containerd ({@link
 * dev.kataoperator.contract.ContainerdFlavor}, {@link dev.kataoperator.contract.RestartMethod}) and
 * the node payload ({@link dev.kataoperator.contract.PayloadLayout}) and what a pod's VM costs
 * ({@link dev.kataoperator.contract.PodOverhead}).
 *
 * <p>Plain Java with no dependencies: enum constants are spelled as they appear on the wire (CRD
 * values, environment variables, node annotations), so every module can use them directly.
 */
package dev.kataoperator.contract;
