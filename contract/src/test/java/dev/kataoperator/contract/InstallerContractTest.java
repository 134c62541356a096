package dev.kataoperator.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.InstallerContract.NodeReport;
import dev.kataoperator.contract.InstallerContract.RuntimeState;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class InstallerContractTest {

  @Test
  void parsesAFullReport() {
    NodeReport r =
        NodeReport.parse(
            Map.of(
                "kataoperator.dev/runtime-state", "installed",
                "kataoperator.dev/kata-qemu", "true",
                "kataoperator.dev/kata-fc", "false",
                "kubernetes.io/os", "linux"),
            Map.of(
                "kataoperator.dev/virtualization", "nested",
                "kataoperator.dev/hypervisors", " qemu , Firecracker",
                "kataoperator.dev/payload-version", "3.2.0",
                "kataoperator.dev/config-hash", "abc123",
                "kataoperator.dev/installer-image", "img:1",
                "kataoperator.dev/message", "  ok  "));
    assertEquals(Optional.of(RuntimeState.installed), r.state());
    assertEquals(Set.of("kata-qemu"), r.runtimeClasses(), "only labels that are exactly true");
    assertEquals(Optional.of(Virtualization.nested), r.virtualization());
    assertEquals(Set.of("qemu", "firecracker"), r.hypervisors());
    assertEquals(Optional.of("3.2.0"), r.payloadVersion());
    assertEquals(Optional.of("ok"), r.message());
    assertTrue(r.isFor("abc123"));
    assertFalse(r.isFor("abc124"));
    assertTrue(r.supports("kata-qemu"));
    assertFalse(r.supports("kata-fc"));
  }

  @Test
  void unknownOrMissingValuesAreEmptyNotErrors() {
    NodeReport r =
        NodeReport.parse(
            Map.of("kataoperator.dev/runtime-state", "Installed"),
            Map.of("kataoperator.dev/virtualization", "kvm", "kataoperator.dev/message", " "));
    assertEquals(Optional.empty(), r.state(), "values are case-sensitive");
    assertEquals(Optional.empty(), r.virtualization());
    assertEquals(Optional.empty(), r.message());
    assertFalse(r.isFor("anything"));
    NodeReport none = NodeReport.parse(null, null);
    assertTrue(none.state().isEmpty());
    assertTrue(none.runtimeClasses().isEmpty());
  }

  @Test
  void stateLabelIsNotARuntimeClass() {
    NodeReport r = NodeReport.parse(Map.of("kataoperator.dev/runtime-state", "true"), Map.of());
    assertTrue(r.runtimeClasses().isEmpty());
  }

  @Test
  void runtimeClassesRoundTrip() {
    var classes = InstallerContract.parseRuntimeClasses(" kata-qemu=qemu , kata-fc=firecracker");
    assertEquals(
        java.util.List.of(
            new InstallerContract.RuntimeClassEntry("kata-qemu", Hypervisor.qemu),
            new InstallerContract.RuntimeClassEntry("kata-fc", Hypervisor.firecracker)),
        classes);
    assertEquals(
        "kata-qemu=qemu,kata-fc=firecracker", InstallerContract.formatRuntimeClasses(classes));
    for (String bad :
        new String[] {
          "", "kata-qemu", "Kata=qemu", "a=qemu,a=qemu", "a=xen", "runtime-state=qemu"
        }) {
      org.junit.jupiter.api.Assertions.assertThrows(
          IllegalArgumentException.class, () -> InstallerContract.parseRuntimeClasses(bad), bad);
    }
  }

  @Test
  void flavorsKnowTheirSocketsAndRenderedConfigs() {
    assertEquals(
        "/run/containerd/containerd.sock", ContainerdFlavor.containerd.socket().toString());
    assertEquals("/run/k3s/containerd/containerd.sock", ContainerdFlavor.k3s.socket().toString());
    assertEquals(
        "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
        ContainerdFlavor.k3s.renderedConfig().toString());
    assertEquals(
        ContainerdFlavor.containerd.config(), ContainerdFlavor.containerd.renderedConfig());
  }
}
