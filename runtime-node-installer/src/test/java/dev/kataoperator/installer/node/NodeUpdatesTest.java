package dev.kataoperator.installer.node;

import static dev.kataoperator.contract.InstallerContract.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kataoperator.contract.InstallerContract.NodeReport;
import dev.kataoperator.contract.InstallerContract.RuntimeState;
import dev.kataoperator.contract.Virtualization;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The contract test between the installer's writer and the operator's parser: every update the
 * installer makes, applied to a node's labels and annotations, is read back with {@link
 * NodeReport#parse} (what the operator runs) and must say what the installer meant.
 */
class NodeUpdatesTest {
  static final NodeUpdates U = new NodeUpdates("hash-1", "registry.test/installer:1");

  /** A node's labels and annotations, updated as the API server would. */
  static final class FakeNode {
    Map<String, String> labels = new LinkedHashMap<>(Map.of("kubernetes.io/os", "linux"));
    Map<String, String> annotations = new LinkedHashMap<>(Map.of("node.alpha/other", "x"));

    NodeReport apply(NodeUpdate u) {
      labels = u.applyToLabels(labels);
      annotations = u.applyToAnnotations(annotations);
      return NodeReport.parse(labels, annotations);
    }
  }

  @Test
  void anInstallReadsBackAsTheOperatorExpects() {
    var node = new FakeNode();
    NodeReport r =
        node.apply(U.installing(Virtualization.pvm, Set.of(), Set.of("kata-qemu"), "installing"));
    assertEquals(Optional.of(RuntimeState.installing), r.state());
    assertEquals(Set.of(), r.runtimeClasses(), "no class label before the class works");
    assertEquals(Optional.of(Virtualization.pvm), r.virtualization());
    assertTrue(r.isFor("hash-1"));
    assertEquals(Optional.of("registry.test/installer:1"), r.installerImage());

    r =
        node.apply(
            U.installed(
                Virtualization.pvm,
                List.of("qemu"),
                "0.1.0-abc",
                Set.of(),
                Set.of("kata-qemu"),
                "kata-qemu installed"));
    assertEquals(Optional.of(RuntimeState.installed), r.state());
    assertEquals(Set.of("kata-qemu"), r.runtimeClasses());
    assertTrue(r.supports("kata-qemu"));
    assertEquals(Set.of("qemu"), r.hypervisors());
    assertEquals(Optional.of("0.1.0-abc"), r.payloadVersion());
    assertEquals(Optional.of("kata-qemu installed"), r.message());
    assertEquals("linux", node.labels.get("kubernetes.io/os"), "other labels untouched");
    assertEquals("x", node.annotations.get("node.alpha/other"), "other annotations untouched");
  }

  @Test
  void aClassNoLongerWantedLosesItsLabelWhenTheInstallStarts() {
    var node = new FakeNode();
    node.apply(
        U.installed(
            Virtualization.hardware,
            List.of("qemu"),
            "1",
            Set.of(),
            Set.of("kata-qemu", "kata-b"),
            "ok"));
    NodeReport r =
        node.apply(
            U.installing(
                Virtualization.hardware, Set.of("kata-qemu", "kata-b"), Set.of("kata-qemu"), "up"));
    assertEquals(Set.of("kata-qemu"), r.runtimeClasses(), "kata-b goes before its handler does");
  }

  @Test
  void aFailureSaysWhyAndKeepsOnlyWorkingClasses() {
    var node = new FakeNode();
    node.apply(
        U.installed(
            Virtualization.nested, List.of("qemu"), "1", Set.of(), Set.of("kata-qemu"), "ok"));
    NodeReport r =
        node.apply(
            U.failed(
                Optional.of(Virtualization.nested),
                Set.of("kata-qemu"),
                Set.of("kata-qemu"),
                "install failed: containerd does not serve\nruntime handler kata-new"));
    assertEquals(Optional.of(RuntimeState.failed), r.state());
    assertEquals(Set.of("kata-qemu"), r.runtimeClasses(), "the rolled-back class still works");
    assertEquals(
        Optional.of("install failed: containerd does not serve runtime handler kata-new"),
        r.message(),
        "one line");
    r = node.apply(U.failed(Optional.empty(), Set.of("kata-qemu"), Set.of(), "x".repeat(5000)));
    assertEquals(Set.of(), r.runtimeClasses());
    assertEquals(NodeUpdates.MESSAGE_LIMIT, r.message().orElseThrow().length());
  }

  @Test
  void uninstallTakesTheClassesAwayFirstAndClearsTheDetailsLast() {
    var node = new FakeNode();
    node.apply(
        U.installed(Virtualization.pvm, List.of("qemu"), "1", Set.of(), Set.of("kata-qemu"), "ok"));
    NodeReport r = node.apply(U.uninstalling(Set.of("kata-qemu"), "uninstalling"));
    assertEquals(Optional.of(RuntimeState.uninstalling), r.state());
    assertEquals(Set.of(), r.runtimeClasses());
    r = node.apply(U.uninstalled());
    assertEquals(Optional.of(RuntimeState.uninstalled), r.state());
    assertEquals(Optional.empty(), r.virtualization());
    assertEquals(Optional.empty(), r.payloadVersion());
    assertEquals(Set.of(), r.hypervisors());
    assertEquals(Optional.empty(), r.message());
    assertTrue(r.isFor("hash-1"));
    assertTrue(
        node.labels.keySet().stream()
            .filter(k -> k.startsWith(PREFIX))
            .allMatch(LABEL_STATE::equals));
  }

  @Test
  void theStateAndItsDetailsTravelInOnePatch() throws Exception {
    String patch =
        U.installed(
                Virtualization.pvm, List.of("qemu"), "1", Set.of("old"), Set.of("kata-qemu"), "ok")
            .toMergePatch();
    var json = new ObjectMapper().readTree(patch);
    var labels = json.path("metadata").path("labels");
    assertEquals("installed", labels.path(LABEL_STATE).asText());
    assertEquals("true", labels.path(runtimeClassLabel("kata-qemu")).asText());
    assertTrue(labels.path(runtimeClassLabel("old")).isNull(), "removed as null in the same patch");
    assertEquals(
        "1", json.path("metadata").path("annotations").path(ANNOTATION_PAYLOAD_VERSION).asText());
  }

  @Test
  void onlyContractKeys() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new NodeUpdate(Map.of("pool", "x"), Set.of(), Map.of(), Set.of()));
    assertFalse(
        new NodeUpdate(Map.of(LABEL_STATE, "installing"), Set.of(), Map.of(), Set.of())
            .toMergePatch()
            .contains("annotations"));
  }
}
