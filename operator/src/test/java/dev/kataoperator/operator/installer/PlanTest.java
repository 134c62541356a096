package dev.kataoperator.operator.installer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigSpec;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class PlanTest {

  static Node node(String name, String state) {
    Map<String, String> labels = new HashMap<>(Map.of("kubernetes.io/os", "linux"));
    if (state != null) {
      labels.put(InstallerContract.LABEL_STATE, state);
    }
    return new NodeBuilder()
        .withNewMetadata()
        .withName(name)
        .withLabels(labels)
        .endMetadata()
        .build();
  }

  @Test
  void uninstallWaitsForEveryNodeThatReportedAnythingButUninstalled() {
    KataConfig kc = new KataConfig();
    kc.getMetadata().setName("cluster");
    kc.setSpec(new KataConfigSpec());
    List<Node> nodes =
        List.of(
            node("never-reported", null),
            node("installed", "installed"),
            node("failed", "failed"),
            node("installing", "installing"),
            node("uninstalling", "uninstalling"),
            node("uninstalled", "uninstalled"));
    Plan plan = Plan.compute(kc, nodes, "ns", "img", Mode.uninstall);
    assertEquals(
        List.of("failed", "installed", "installing", "uninstalling"), plan.nodesToRevert());
    assertEquals(
        List.of(),
        Plan.compute(
                kc, List.of(node("a", "uninstalled"), node("b", null)), "ns", "img", Mode.uninstall)
            .nodesToRevert());
  }
}
