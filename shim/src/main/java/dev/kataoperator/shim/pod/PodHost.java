package dev.kataoperator.shim.pod;

import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.hypervisor.Hypervisor;
import dev.kataoperator.shim.network.PodNetwork;
import dev.kataoperator.shim.network.PortForwarding;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Everything a pod does to its node, in one place: where run directories live, mounts, the pod
 * cgroup, the network in CNI's namespace, the hypervisor and what the node's virtualization is, and
 * killing what a dead shim left running. {@link NodeHost} is the node itself. The pod's unit tests
 * give the pod a host that records instead, with a hypervisor whose "VM" is an agent served
 * in-process, so that the pod's logic (what is bound where, what a failed create undoes, what a
 * dead VM means) is tested without root, mounts or a VM.
 */
interface PodHost {

  /** Where the pods' run directories are made. */
  Path runRoot();

  /** Mounts a filesystem, as mount(8) with {@code -t type -o options}. */
  void mount(String type, String source, Path target, List<String> options) throws IOException;

  /** Sets up a pod's share (see {@link HostMounts#makeShare}). */
  void makeShare(Path binds, Path export, Path staging) throws IOException;

  /** Binds a container's rootfs or volume into the share (see {@link HostMounts#bind}). */
  void bind(Path source, Path target, boolean readOnly, Path staging) throws IOException;

  /** Unmounts everything at or below {@code root}; never fails. */
  void unmountAllUnder(Path root);

  /**
   * Moves the VM's processes into the pod's cgroup, recording in {@code record} each cgroup it
   * makes before making it (see {@link PodCgroup#join}).
   */
  void joinCgroup(String cgroupsPath, List<Long> pids, Path record);

  /** Removes the cgroups {@link #joinCgroup} recorded, once the VM is gone. */
  void removeRecordedCgroups(Path record);

  /** Moves the pod's CNI interfaces onto taps for the VM. */
  PodNetwork attachNetwork(Path netns);

  /** Gives CNI back every interface a pod (whose shim died) took. */
  void detachAllNetworks(Path netns);

  /** Serves kubectl port-forward in the pod's namespace, into the VM through {@code agent}. */
  PortForwarding startPortForwarding(Path netns, AgentClient agent);

  /** The hypervisor {@code config} names. */
  Hypervisor hypervisor(RuntimeConfig config);

  /** What this node's virtualization is (KVM, nested, none). */
  HostVirtualization virtualization();

  /** Kills every process that names a path under {@code dir} (a dead shim's VM and helpers). */
  void killProcessesUsing(Path dir);
}
