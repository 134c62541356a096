package dev.kataoperator.operator.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.operator.api.v1alpha1.KataConfigStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus.Phase;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class TransitionsTest {

  static KataConfigStatus status(boolean ready, List<String> classes, NodeStatus... nodes) {
    KataConfigStatus st = new KataConfigStatus();
    st.conditions =
        List.of(
            Conditions.of("Ready", ready, ready ? "Installed" : "Installing", "m", 1L),
            Conditions.of("Degraded", false, "AsExpected", "m", 1L));
    st.runtimeClasses = classes;
    st.nodes = List.of(nodes);
    return st;
  }

  static NodeStatus node(String name, Phase p) {
    NodeStatus n = new NodeStatus();
    n.name = name;
    n.phase = p;
    return n;
  }

  @Test
  void noChangeNoEvent() {
    var s = status(true, List.of("kata-qemu"), node("a", Phase.Installed));
    assertEquals(List.of(), Transitions.between(s, s));
  }

  @Test
  void readyNodeAndClassChangesAreReported() {
    var before = status(false, List.of(), node("a", Phase.Installing));
    var after = status(true, List.of("kata-qemu"), node("a", Phase.Installed));
    var events = Transitions.between(before, after);
    var reasons = events.stream().map(Transitions.Event::reason).toList();
    assertEquals(List.of("Installed", "NodeInstalled", "RuntimeClassPublished"), reasons);
  }

  @Test
  void failuresAreWarnings() {
    var before = status(true, List.of("kata-qemu"), node("a", Phase.Installed));
    var failed = node("a", Phase.Failed);
    failed.message = "boom";
    var after = status(false, List.of(), failed);
    var events = Transitions.between(before, after);
    var nodeEvent = events.stream().filter(e -> e.reason().equals("NodeFailed")).findFirst().get();
    assertTrue(nodeEvent.warning());
    assertTrue(nodeEvent.message().contains("boom"));
    assertTrue(
        events.stream()
            .anyMatch(
                e ->
                    e.reason().equals("RuntimeClassWithdrawn")
                        && e.message().endsWith("no selected node supports it")));
  }

  @Test
  void classesRemovedByTheUninstallSaySo() {
    var before = status(false, List.of("kata-qemu"), node("a", Phase.Uninstalled));
    var after = status(false, List.of(), node("a", Phase.Uninstalled));
    after.conditions =
        List.of(Conditions.of("Ready", false, "Uninstalling", "KataConfig is being deleted", 1L));
    var withdrawn =
        Transitions.between(before, after).stream()
            .filter(e -> e.reason().equals("RuntimeClassWithdrawn"))
            .toList();
    assertEquals(1, withdrawn.size());
    assertEquals(
        "RuntimeClass kata-qemu withdrawn: the KataConfig is being deleted",
        withdrawn.get(0).message());
  }

  @Test
  void firstStatusDoesNotAnnouncePendingNodes() {
    var after = status(false, List.of(), node("a", Phase.Pending));
    var reasons = Transitions.between(null, after).stream().map(Transitions.Event::reason).toList();
    assertEquals(List.of("Installing"), reasons);
  }
}
