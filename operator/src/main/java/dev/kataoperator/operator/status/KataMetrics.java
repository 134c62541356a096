package dev.kataoperator.operator.status;

import dev.kataoperator.operator.api.v1alpha1.KataConfigStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus.Phase;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Prometheus metrics (at /q/metrics): {@code kataoperator_reconciliations_total{outcome}}, {@code
 * kataoperator_nodes{phase}} (selected nodes per phase; Installed counts up-to-date nodes only,
 * outdated ones count as Installing) and {@code kataoperator_runtimeclasses}. JOSDK's own {@code
 * operator_sdk_*} metrics come with them.
 */
@ApplicationScoped
public class KataMetrics {
  private final MeterRegistry registry;
  private final Map<Phase, AtomicInteger> nodes = new EnumMap<>(Phase.class);
  private final AtomicInteger runtimeClasses = new AtomicInteger();

  public KataMetrics(MeterRegistry registry) {
    this.registry = registry;
    for (Phase p : Phase.values()) {
      AtomicInteger v = new AtomicInteger();
      nodes.put(p, v);
      Gauge.builder("kataoperator.nodes", v, AtomicInteger::get)
          .description("Selected nodes per installation phase")
          .tag("phase", p.name())
          .register(registry);
    }
    Gauge.builder("kataoperator.runtimeclasses", runtimeClasses, AtomicInteger::get)
        .description("RuntimeClasses published")
        .register(registry);
  }

  /** Counts one reconciliation: installed, refused, uninstalling, deleted or error. */
  public void reconciled(String outcome) {
    Counter.builder("kataoperator.reconciliations")
        .description("KataConfig reconciliations by outcome")
        .tag("outcome", outcome)
        .register(registry)
        .increment();
  }

  public void observe(KataConfigStatus st) {
    nodes.get(Phase.Pending).set(st.pendingNodes);
    nodes.get(Phase.Installing).set(st.installingNodes);
    nodes.get(Phase.Installed).set(st.installedNodes);
    nodes.get(Phase.Failed).set(st.failedNodes);
    nodes.get(Phase.Uninstalling).set(st.uninstallingNodes);
    nodes.get(Phase.Uninstalled).set(0);
    runtimeClasses.set(st.runtimeClasses.size());
  }

  public void cleared() {
    nodes.values().forEach(v -> v.set(0));
    runtimeClasses.set(0);
  }
}
