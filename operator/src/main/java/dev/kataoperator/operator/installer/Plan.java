package dev.kataoperator.operator.installer;

import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.contract.InstallerContract.NodeReport;
import dev.kataoperator.contract.InstallerContract.RuntimeState;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.RuntimeClassSpec;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Everything one reconciliation decides, computed once from the KataConfig and the nodes; the
 * dependents and the status read it. Pure: no client, no clock.
 */
public record Plan(
    InstallerSettings settings,
    String namespace,
    Mode mode,
    String configHash,
    Map<String, NodeReport> selected,
    Set<String> supportedClasses) {

  public static Plan compute(
      KataConfig kc, Collection<Node> nodes, String namespace, String defaultImage, Mode mode) {
    InstallerSettings s = InstallerSettings.of(kc, defaultImage);
    Map<String, NodeReport> selected = new LinkedHashMap<>();
    nodes.stream()
        .filter(n -> NodeSelection.selects(s.nodeSelector(), s.tolerations(), n))
        .sorted(Comparator.comparing(n -> n.getMetadata().getName()))
        .forEach(
            n ->
                selected.put(
                    n.getMetadata().getName(),
                    NodeReport.parse(
                        n.getMetadata().getLabels(), n.getMetadata().getAnnotations())));
    Set<String> supported = new TreeSet<>();
    for (RuntimeClassSpec c : s.runtimeClasses()) {
      if (selected.values().stream().anyMatch(r -> r.supports(c.name))) {
        supported.add(c.name);
      }
    }
    return new Plan(s, namespace, mode, s.hash(mode), selected, supported);
  }

  public DaemonSet daemonSet() {
    return InstallerDaemonSet.build(settings, namespace, mode);
  }

  public List<RuntimeClass> runtimeClasses() {
    return RuntimeClasses.desired(settings, supportedClasses);
  }

  /**
   * Selected nodes the installer still has to revert: each reported a state other than {@code
   * uninstalled}. Nodes that never reported had nothing installed, so nobody waits for them.
   */
  public List<String> nodesToRevert() {
    return selected.entrySet().stream()
        .filter(e -> e.getValue().state().filter(st -> st != RuntimeState.uninstalled).isPresent())
        .map(Map.Entry::getKey)
        .toList();
  }

  /** Names of every RuntimeClass this KataConfig may publish (published or not). */
  public Set<String> allRuntimeClassNames() {
    Set<String> names = new TreeSet<>();
    settings.runtimeClasses().forEach(c -> names.add(c.name));
    settings.defaultRuntimeClass().ifPresent(c -> names.add(RuntimeClasses.ALIAS));
    return names;
  }
}
