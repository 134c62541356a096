package dev.kataoperator.shim.pod;

import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.Virtualization;
import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.hypervisor.Hypervisor;
import dev.kataoperator.shim.network.PodNetwork;
import dev.kataoperator.shim.network.PortForwarding;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * TEST ONLY: a node that records what a pod asks of it, one line per operation ("bind SRC TARGET
 * ro", "unmount-all DIR", ...), and mounts nothing. Run directories go under a temporary root; the
 * hypervisor is an {@link InProcessGuest}. Pod logic needs no network here: asking for one fails
 * the test.
 */
final class RecordingHost implements PodHost {
  final Path runRoot;
  final InProcessGuest guest = new InProcessGuest();
  final List<String> calls = new CopyOnWriteArrayList<>();

  /** A bind whose source matches fails, as mount(8) would for a source that cannot be bound. */
  volatile Predicate<Path> failBind = p -> false;

  /** Joining the pod's cgroup fails, as on a node whose cgroup hierarchy refuses the VM. */
  volatile boolean failCgroup;

  RecordingHost(Path runRoot) {
    this.runRoot = runRoot;
  }

  /** The recorded calls that start with {@code op}. */
  List<String> calls(String op) {
    return calls.stream().filter(c -> c.startsWith(op + " ")).toList();
  }

  @Override
  public Path runRoot() {
    return runRoot;
  }

  @Override
  public void mount(String type, String source, Path target, List<String> options) {
    calls.add("mount " + type + " " + source + " " + target + " " + String.join(",", options));
  }

  @Override
  public void makeShare(Path binds, Path export, Path staging) throws java.io.IOException {
    for (Path d : List.of(binds, export, staging)) {
      Files.createDirectories(d);
    }
    calls.add("share " + binds + " " + export + " " + staging);
  }

  @Override
  public void bind(Path source, Path target, boolean readOnly, Path staging)
      throws java.io.IOException {
    if (failBind.test(source)) {
      throw new java.io.IOException("mount --rbind " + source + " " + target + ": refused");
    }
    calls.add("bind " + source + " " + target + (readOnly ? " ro" : " rw"));
  }

  @Override
  public void unmountAllUnder(Path root) {
    calls.add("unmount-all " + root);
  }

  /**
   * As the node does: each cgroup is written to {@code record} before it is made (here one line,
   * the cgroups path), also when the join then fails; removal reads only the record.
   */
  @Override
  public void joinCgroup(String cgroupsPath, List<Long> pids, Path record) {
    if (cgroupsPath.isEmpty()) {
      return;
    }
    try {
      Files.writeString(
          record, cgroupsPath + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    if (failCgroup) {
      throw new dev.kataoperator.shim.sandbox.SandboxException(
          "cannot put the VM into the pod's cgroup " + cgroupsPath);
    }
    calls.add("cgroup-join " + cgroupsPath + " " + pids);
  }

  @Override
  public void removeRecordedCgroups(Path record) {
    try {
      for (String line : Files.readAllLines(record).reversed()) {
        calls.add("cgroup-remove " + line);
      }
    } catch (java.nio.file.NoSuchFileException e) {
      // nothing recorded
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Override
  public PodNetwork attachNetwork(Path netns) {
    throw new AssertionError("no network in the recording host: " + netns);
  }

  @Override
  public void detachAllNetworks(Path netns) {
    calls.add("network-detach-all " + netns);
  }

  @Override
  public PortForwarding startPortForwarding(Path netns, AgentClient agent) {
    throw new AssertionError("no network in the recording host: " + netns);
  }

  @Override
  public Hypervisor hypervisor(RuntimeConfig config) {
    return guest;
  }

  @Override
  public HostVirtualization virtualization() {
    return new HostVirtualization(Virtualization.none, "the recording host has no KVM");
  }

  @Override
  public void killProcessesUsing(Path dir) {
    calls.add("kill-using " + dir);
  }
}
