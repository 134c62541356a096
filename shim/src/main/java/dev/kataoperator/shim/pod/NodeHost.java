package dev.kataoperator.shim.pod;

import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.hypervisor.Hypervisor;
import dev.kataoperator.shim.network.PodNetwork;
import dev.kataoperator.shim.network.PortForwarding;
import dev.kataoperator.shim.sandbox.Hypervisors;
import dev.kataoperator.shim.sandbox.RunDirs;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The node the shim runs on: real mounts, cgroups, network and QEMU. */
final class NodeHost implements PodHost {
  static final NodeHost INSTANCE = new NodeHost();

  private NodeHost() {}

  @Override
  public Path runRoot() {
    return PayloadLayout.SHIM_RUN_ROOT;
  }

  @Override
  public void mount(String type, String source, Path target, List<String> options)
      throws IOException {
    HostMounts.mount(type, source, target, options);
  }

  @Override
  public void makeShare(Path binds, Path export, Path staging) throws IOException {
    HostMounts.keepPrivate(runRoot());
    HostMounts.makeShare(binds, export, staging);
  }

  @Override
  public void bind(Path source, Path target, boolean readOnly, Path staging) throws IOException {
    HostMounts.bind(source, target, readOnly, staging);
  }

  @Override
  public void unmountAllUnder(Path root) {
    HostMounts.unmountAllUnder(root);
  }

  @Override
  public void joinCgroup(String cgroupsPath, List<Long> pids, Path record) {
    PodCgroup.join(cgroupsPath, pids, record);
  }

  @Override
  public void removeRecordedCgroups(Path record) {
    PodCgroup.removeRecorded(record);
  }

  @Override
  public PodNetwork attachNetwork(Path netns) {
    return PodNetwork.attach(netns);
  }

  @Override
  public void detachAllNetworks(Path netns) {
    PodNetwork.detachAll(netns);
  }

  @Override
  public PortForwarding startPortForwarding(Path netns, AgentClient agent) {
    return PortForwarding.start(netns, PortForwarding.Guest.through(agent));
  }

  @Override
  public Hypervisor hypervisor(RuntimeConfig config) {
    return Hypervisors.forConfig(config);
  }

  @Override
  public HostVirtualization virtualization() {
    return HostVirtualization.probe();
  }

  @Override
  public void killProcessesUsing(Path dir) {
    RunDirs.killProcessesUsing(dir);
  }
}
