package dev.kataoperator.installer.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeSelectorRequirementBuilder;
import io.fabric8.kubernetes.api.model.NodeSelectorTermBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** When a stopping installer reverts its node: only when its DaemonSet no longer wants it. */
class DaemonSetSelectionTest {
  static Node node(Map<String, String> labels) {
    return new NodeBuilder()
        .withNewMetadata()
        .withName("node-a")
        .withLabels(labels)
        .endMetadata()
        .build();
  }

  static DaemonSet ds(Map<String, String> nodeSelector, String op, String key, String... values) {
    var b =
        new DaemonSetBuilder()
            .withNewMetadata()
            .withName("runtime-node-installer")
            .endMetadata()
            .withNewSpec()
            .withNewTemplate()
            .withNewSpec()
            .withNodeSelector(nodeSelector);
    if (op != null) {
      b =
          b.withNewAffinity()
              .withNewNodeAffinity()
              .withNewRequiredDuringSchedulingIgnoredDuringExecution()
              .withNodeSelectorTerms(
                  new NodeSelectorTermBuilder()
                      .withMatchExpressions(
                          new NodeSelectorRequirementBuilder()
                              .withKey(key)
                              .withOperator(op)
                              .withValues(values)
                              .build(),
                          new NodeSelectorRequirementBuilder()
                              .withKey("kubernetes.io/os")
                              .withOperator("In")
                              .withValues("linux")
                              .build())
                      .build())
              .endRequiredDuringSchedulingIgnoredDuringExecution()
              .endNodeAffinity()
              .endAffinity();
    }
    return b.endSpec().endTemplate().endSpec().build();
  }

  static final Map<String, String> LINUX_POOL_A = Map.of("kubernetes.io/os", "linux", "pool", "a");

  @Test
  void stillSelected() {
    assertEquals(
        Optional.empty(),
        DaemonSetSelection.notSelected(
            Optional.of(ds(Map.of(), "In", "pool", "a", "b")), node(LINUX_POOL_A)));
    assertEquals(
        Optional.empty(),
        DaemonSetSelection.notSelected(
            Optional.of(ds(Map.of("pool", "a"), null, null)), node(LINUX_POOL_A)));
    assertEquals(
        Optional.empty(),
        DaemonSetSelection.notSelected(
            Optional.of(ds(Map.of(), "Exists", "pool")), node(LINUX_POOL_A)));
    assertEquals(
        Optional.empty(),
        DaemonSetSelection.notSelected(
            Optional.of(ds(Map.of(), "NotIn", "pool", "b")), node(LINUX_POOL_A)));
  }

  @Test
  void noLongerSelected() {
    assertTrue(
        DaemonSetSelection.notSelected(Optional.empty(), node(LINUX_POOL_A))
            .orElseThrow()
            .contains("gone"));
    assertTrue(
        DaemonSetSelection.notSelected(
                Optional.of(ds(Map.of(), "In", "pool", "b")), node(LINUX_POOL_A))
            .orElseThrow()
            .contains("node affinity"));
    assertTrue(
        DaemonSetSelection.notSelected(
                Optional.of(ds(Map.of("pool", "b"), null, null)), node(LINUX_POOL_A))
            .orElseThrow()
            .contains("nodeSelector pool=b"));
    assertTrue(
        DaemonSetSelection.notSelected(
                Optional.of(ds(Map.of(), "DoesNotExist", "pool")), node(LINUX_POOL_A))
            .isPresent());
    var deleting = ds(Map.of(), null, null);
    deleting.getMetadata().setDeletionTimestamp("2026-01-01T00:00:00Z");
    assertTrue(
        DaemonSetSelection.notSelected(Optional.of(deleting), node(LINUX_POOL_A))
            .orElseThrow()
            .contains("deleted"));
  }

  @Test
  void matchFieldsNameTheNode() {
    var term =
        new NodeSelectorTermBuilder()
            .withMatchFields(
                new NodeSelectorRequirementBuilder()
                    .withKey("metadata.name")
                    .withOperator("In")
                    .withValues(List.of("node-a"))
                    .build())
            .build();
    assertTrue(DaemonSetSelection.matches(term, Map.of(), "node-a"));
    assertTrue(!DaemonSetSelection.matches(term, Map.of(), "node-b"));
  }
}
