package dev.kataoperator.operator.installer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class NodeSelectionTest {

  static Node node(Map<String, String> labels, Taint... taints) {
    return new NodeBuilder()
        .withNewMetadata()
        .withName("n")
        .withLabels(labels)
        .endMetadata()
        .withNewSpec()
        .withTaints(taints)
        .endSpec()
        .build();
  }

  static final Map<String, String> LINUX = Map.of("kubernetes.io/os", "linux", "pool", "a");

  @Test
  void defaultSelectsLinuxOnly() {
    assertTrue(NodeSelection.selects(null, List.of(), node(LINUX)));
    assertFalse(
        NodeSelection.selects(null, List.of(), node(Map.of("kubernetes.io/os", "windows"))));
    assertFalse(NodeSelection.selects(null, List.of(), node(Map.of())));
  }

  @Test
  void labelSelectorOperators() {
    LabelSelector in =
        new LabelSelectorBuilder()
            .addNewMatchExpression()
            .withKey("pool")
            .withOperator("In")
            .withValues("a", "b")
            .endMatchExpression()
            .addNewMatchExpression()
            .withKey("gpu")
            .withOperator("DoesNotExist")
            .endMatchExpression()
            .build();
    assertTrue(NodeSelection.matches(in, LINUX));
    assertFalse(NodeSelection.matches(in, Map.of("pool", "c")));
    assertFalse(NodeSelection.matches(in, Map.of("pool", "a", "gpu", "x")));
    LabelSelector notIn =
        new LabelSelectorBuilder()
            .addNewMatchExpression()
            .withKey("pool")
            .withOperator("NotIn")
            .withValues("a")
            .endMatchExpression()
            .build();
    assertFalse(NodeSelection.matches(notIn, LINUX));
    assertTrue(NodeSelection.matches(notIn, Map.of()));
    assertFalse(
        NodeSelection.matches(
            new LabelSelectorBuilder().addToMatchLabels("pool", "b").build(), LINUX));
  }

  @Test
  void taintsNeedTolerationsExceptDaemonSetDefaults() {
    Taint dedicated = new Taint("NoSchedule", "dedicated", null, "sandbox");
    Taint notReady = new Taint("NoExecute", "node.kubernetes.io/not-ready", null, null);
    Taint soft = new Taint("PreferNoSchedule", "x", null, "y");
    assertFalse(NodeSelection.selects(null, List.of(), node(LINUX, dedicated)));
    assertTrue(NodeSelection.selects(null, List.of(), node(LINUX, notReady, soft)));
    Toleration exact =
        new TolerationBuilder()
            .withKey("dedicated")
            .withOperator("Equal")
            .withValue("sandbox")
            .withEffect("NoSchedule")
            .build();
    Toleration wrongValue =
        new TolerationBuilder()
            .withKey("dedicated")
            .withOperator("Equal")
            .withValue("other")
            .build();
    Toleration everything = new TolerationBuilder().withOperator("Exists").build();
    assertTrue(NodeSelection.selects(null, List.of(exact), node(LINUX, dedicated)));
    assertFalse(NodeSelection.selects(null, List.of(wrongValue), node(LINUX, dedicated)));
    assertTrue(NodeSelection.selects(null, List.of(everything), node(LINUX, dedicated)));
  }

  @Test
  void nodeAffinityMirrorsTheSelector() {
    LabelSelector s =
        new LabelSelectorBuilder()
            .addToMatchLabels("pool", "a")
            .addNewMatchExpression()
            .withKey("zone")
            .withOperator("Exists")
            .endMatchExpression()
            .build();
    var terms =
        NodeSelection.nodeAffinity(s)
            .getRequiredDuringSchedulingIgnoredDuringExecution()
            .getNodeSelectorTerms();
    assertEquals(1, terms.size(), "one term: all requirements ANDed");
    var reqs = terms.get(0).getMatchExpressions();
    assertEquals("kubernetes.io/os", reqs.get(0).getKey());
    assertEquals(List.of("linux"), reqs.get(0).getValues());
    assertEquals("pool", reqs.get(1).getKey());
    assertEquals("In", reqs.get(1).getOperator());
    assertEquals("zone", reqs.get(2).getKey());
    assertTrue(reqs.get(2).getValues().isEmpty());
  }
}
