package dev.kataoperator.shim.pod;

import com.google.protobuf.Any;
import dev.kataoperator.agent.v1.StatsContainerResponse;
import dev.kataoperator.shim.containerd.api.cgroups.v2.CPUStat;
import dev.kataoperator.shim.containerd.api.cgroups.v2.MemoryEvents;
import dev.kataoperator.shim.containerd.api.cgroups.v2.MemoryStat;
import dev.kataoperator.shim.containerd.api.cgroups.v2.Metrics;
import dev.kataoperator.shim.containerd.api.cgroups.v2.PidsStat;

/** A container's numbers from the guest (its cgroup v2 there) as containerd's metrics. */
final class GuestMetrics {
  private GuestMetrics() {}

  /**
   * containerd's cgroup v2 metrics type (what CRI decodes). The type URL is the bare message name,
   * as containerd's own shims send it: 1.6 looks it up verbatim and knows no "type.googleapis.com/"
   * form.
   */
  static Any toContainerd(StatsContainerResponse s) {
    var metrics =
        Metrics.newBuilder()
            .setPids(PidsStat.newBuilder().setCurrent(s.getPidsCurrent()))
            .setCpu(
                CPUStat.newBuilder()
                    .setUsageUsec(s.getCpuUsageUsec())
                    .setUserUsec(s.getCpuUserUsec())
                    .setSystemUsec(s.getCpuSystemUsec()))
            .setMemory(
                MemoryStat.newBuilder()
                    .setUsage(s.getMemoryUsageBytes())
                    .setUsageLimit(s.getMemoryLimitBytes()))
            .setMemoryEvents(MemoryEvents.newBuilder().setOomKill(s.getOomKills()))
            .build();
    return Any.newBuilder()
        .setTypeUrl(Metrics.getDescriptor().getFullName())
        .setValue(metrics.toByteString())
        .build();
  }
}
