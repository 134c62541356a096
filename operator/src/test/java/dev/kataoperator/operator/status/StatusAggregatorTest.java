package dev.kataoperator.operator.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus.Phase;
import dev.kataoperator.operator.installer.Plan;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class StatusAggregatorTest {
  static final Instant NOW = Instant.parse("2025-03-01T12:00:00Z");

  static KataConfig kc() {
    KataConfig kc = new KataConfig();
    kc.getMetadata().setName("cluster");
    kc.getMetadata().setUid("uid-1");
    kc.getMetadata().setGeneration(3L);
    return kc;
  }

  static String hash(KataConfig kc) {
    return Plan.compute(kc, List.of(), "ns", "img", Mode.install).configHash();
  }

  static Node node(String name, String state, String hash, String... classes) {
    Map<String, String> labels = new HashMap<>(Map.of("kubernetes.io/os", "linux"));
    Map<String, String> ann = new HashMap<>();
    if (state != null) {
      labels.put("kataoperator.dev/runtime-state", state);
      ann.put("kataoperator.dev/config-hash", hash);
      ann.put("kataoperator.dev/virtualization", "hardware");
      if (state.equals("failed")) {
        ann.put("kataoperator.dev/message", "containerd did not restart");
      }
    }
    for (String c : classes) {
      labels.put("kataoperator.dev/" + c, "true");
    }
    return new NodeBuilder()
        .withNewMetadata()
        .withName(name)
        .withLabels(labels)
        .withAnnotations(ann)
        .endMetadata()
        .build();
  }

  static KataConfigStatus aggregate(KataConfig kc, List<Node> nodes) {
    Plan plan = Plan.compute(kc, nodes, "ns", "img", Mode.install);
    List<String> published =
        plan.runtimeClasses().stream().map(r -> r.getMetadata().getName()).toList();
    return StatusAggregator.installed(kc, plan, published, NOW);
  }

  static Condition cond(KataConfigStatus st, String type) {
    return Conditions.find(st.conditions, type).orElseThrow();
  }

  @Test
  void allInstalledAndUpToDateIsReady() {
    KataConfig kc = kc();
    String h = hash(kc);
    KataConfigStatus st =
        aggregate(
            kc,
            List.of(
                node("a", "installed", h, "kata-qemu"), node("b", "installed", h, "kata-qemu")));
    assertEquals(2, st.selectedNodes);
    assertEquals(2, st.installedNodes);
    assertEquals("True", cond(st, "Ready").getStatus());
    assertEquals("False", cond(st, "Progressing").getStatus());
    assertEquals("False", cond(st, "Degraded").getStatus());
    assertEquals(List.of("kata", "kata-qemu"), st.runtimeClasses);
    assertEquals(3L, st.observedGeneration);
    assertEquals(3L, cond(st, "Ready").getObservedGeneration());
  }

  @Test
  void outdatedReportCountsAsInstallingNotInstalled() {
    KataConfig kc = kc();
    KataConfigStatus st =
        aggregate(kc, List.of(node("a", "installed", hash(kc)), node("b", "installed", "old")));
    assertEquals(1, st.installedNodes);
    assertEquals(1, st.installingNodes);
    assertEquals("False", cond(st, "Ready").getStatus());
    assertEquals("True", cond(st, "Progressing").getStatus());
    assertTrue(cond(st, "Progressing").getMessage().contains("b"));
    assertFalse(st.nodes.get(1).upToDate);
    assertEquals(Phase.Installed, st.nodes.get(1).phase);
  }

  @Test
  void failedNodeIsDegradedWithItsMessage() {
    KataConfig kc = kc();
    KataConfigStatus st =
        aggregate(kc, List.of(node("a", "installed", hash(kc)), node("b", "failed", hash(kc))));
    assertEquals(1, st.failedNodes);
    assertEquals("True", cond(st, "Degraded").getStatus());
    assertEquals("NodesFailed", cond(st, "Ready").getReason());
    assertTrue(cond(st, "Degraded").getMessage().contains("b (containerd did not restart)"));
    assertEquals("False", cond(st, "Progressing").getStatus(), "a failure is not progress");
  }

  @Test
  void nodesWithoutReportArePendingAndUnselectedNodesIgnored() {
    KataConfig kc = kc();
    Node windows =
        new NodeBuilder()
            .withNewMetadata()
            .withName("w")
            .withLabels(Map.of("kubernetes.io/os", "windows"))
            .endMetadata()
            .build();
    KataConfigStatus st = aggregate(kc, List.of(node("a", null, null), windows));
    assertEquals(1, st.selectedNodes);
    assertEquals(1, st.pendingNodes);
    assertEquals(Phase.Pending, st.nodes.get(0).phase);
    assertTrue(st.runtimeClasses.isEmpty());
  }

  @Test
  void noNodesIsNotReadyWithAReason() {
    KataConfigStatus st = aggregate(kc(), List.of());
    assertEquals("NoNodesSelected", cond(st, "Ready").getReason());
    assertEquals("False", cond(st, "Ready").getStatus());
  }

  @Test
  void longNodeListsAreShortenedInMessages() {
    KataConfig kc = kc();
    List<Node> nodes = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      nodes.add(node("n" + i, "installing", hash(kc)));
    }
    String msg = cond(aggregate(kc, nodes), "Progressing").getMessage();
    assertTrue(msg.endsWith("n0, n1, n2, n3, n4 and 3 more"), msg);
  }

  @Test
  void refusedIsDegradedAndNamesTheActiveOne() {
    KataConfigStatus st = StatusAggregator.refused(kc(), "first", NOW);
    assertEquals("DuplicateKataConfig", cond(st, "Degraded").getReason());
    assertTrue(cond(st, "Degraded").getMessage().contains("'first'"));
    assertEquals("False", cond(st, "Ready").getStatus());
  }

  @Test
  void reconcilingTwiceKeepsLastTransitionTimes() {
    KataConfig kc = kc();
    String h = hash(kc);
    List<Node> nodes = List.of(node("a", "installed", h, "kata-qemu"));
    KataConfigStatus first = aggregate(kc, nodes);
    kc.setStatus(first);
    Plan plan = Plan.compute(kc, nodes, "ns", "img", Mode.install);
    KataConfigStatus second =
        StatusAggregator.installed(kc, plan, first.runtimeClasses, NOW.plusSeconds(3600));
    assertEquals(
        cond(first, "Ready").getLastTransitionTime(),
        cond(second, "Ready").getLastTransitionTime());
  }

  @Test
  void aReconcileErrorIsDegradedAndKeepsTheRest() {
    KataConfig kc = kc();
    String h = hash(kc);
    KataConfigStatus ok = aggregate(kc, List.of(node("a", "installed", h, "kata-qemu")));
    kc.setStatus(ok);
    KataConfigStatus st = StatusAggregator.failed(kc, "forbidden: daemonsets", NOW.plusSeconds(60));
    assertEquals("True", cond(st, "Degraded").getStatus());
    assertEquals("ReconcileError", cond(st, "Degraded").getReason());
    assertEquals("forbidden: daemonsets", cond(st, "Degraded").getMessage());
    assertEquals(1, st.installedNodes);
    assertEquals(
        cond(ok, "Ready").getLastTransitionTime(), cond(st, "Ready").getLastTransitionTime());
    assertEquals("2025-03-01T12:01:00Z", cond(st, "Degraded").getLastTransitionTime());
  }
}
