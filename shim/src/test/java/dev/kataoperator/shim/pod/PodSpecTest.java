package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class PodSpecTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static ObjectNode spec(String json) throws Exception {
    return (ObjectNode) JSON.readTree(json);
  }

  @Test
  void criSandboxAnnotationsSizeTheVm() throws Exception {
    var s =
        spec(
            """
            {"annotations":{"io.kubernetes.cri.sandbox-memory":"536870912",
              "io.kubernetes.cri.sandbox-cpu-quota":"150000","io.kubernetes.cri.sandbox-cpu-period":"100000"}}
            """);
    assertEquals(512, PodSpec.memoryLimitMiB(s));
    assertEquals(2, PodSpec.cpuLimit(s)); // 1.5 CPUs round up
  }

  @Test
  void containerLimitsWhenThereAreNoPodAnnotations() throws Exception {
    var s =
        spec(
            """
            {"linux":{"resources":{"memory":{"limit":268435456},"cpu":{"quota":100000,"period":100000}}}}
            """);
    assertEquals(256, PodSpec.memoryLimitMiB(s));
    assertEquals(1, PodSpec.cpuLimit(s));
  }

  @Test
  void noLimitsAddNothing() throws Exception {
    var s = spec("{\"linux\":{\"resources\":{\"cpu\":{\"quota\":-1,\"period\":100000}}}}");
    assertEquals(0, PodSpec.memoryLimitMiB(s));
    assertEquals(0, PodSpec.cpuLimit(s));
  }

  @Test
  void networkNamespaceFromTheSpec() throws Exception {
    var s =
        spec(
            """
            {"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/cni-1"}]}}
            """);
    assertEquals(Optional.of(Path.of("/var/run/netns/cni-1")), PodSpec.networkNamespace(s));
    assertEquals(
        Optional.empty(),
        PodSpec.networkNamespace(spec("{\"linux\":{\"namespaces\":[{\"type\":\"network\"}]}}")));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            PodSpec.networkNamespace(
                spec(
                    "{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"/run/../etc\"}]}}")));
  }

  @Test
  void aKubernetesPodAskingForTheNodesNamespacesIsRefused() throws Exception {
    String ns = "{\"type\":\"network\",\"path\":\"/var/run/netns/cni-1\"}";
    String pid = "{\"type\":\"pid\"}";
    String ipc = "{\"type\":\"ipc\",\"path\":\"/proc/7/ns/ipc\"}";
    String cri = "\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\"}";
    PodSpec.refuseHostNamespaces(
        spec("{" + cri + ",\"linux\":{\"namespaces\":[" + ns + "," + pid + "," + ipc + "]}}"));
    for (var c :
        java.util.Map.of(
                "hostNetwork", pid + "," + ipc,
                "hostPID", ns + "," + ipc,
                "hostIPC", ns + "," + pid)
            .entrySet()) {
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  PodSpec.refuseHostNamespaces(
                      spec("{" + cri + ",\"linux\":{\"namespaces\":[" + c.getValue() + "]}}")));
      assertTrue(e.getMessage().contains(c.getKey()), e.getMessage());
      assertTrue(e.getMessage().contains("runc"), e.getMessage());
    }
    // Outside Kubernetes (ctr, kata-run) a missing namespace is the VM's own.
    PodSpec.refuseHostNamespaces(spec("{\"linux\":{\"namespaces\":[" + pid + "]}}"));
  }

  /**
   * hostUsers: false. CRI then asks the runtime for a new network namespace (no path) and runs CNI
   * in the namespace of the task's host process: QEMU's, the node's. Refused before any VM.
   */
  @Test
  void aUserNamespacedKubernetesPodIsRefused() throws Exception {
    String cri = "\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\"}";
    String rest = ",{\"type\":\"pid\"},{\"type\":\"ipc\"}";
    for (String namespaces :
        List.of(
            "{\"type\":\"network\"},{\"type\":\"user\"}" + rest,
            "{\"type\":\"network\"}" + rest,
            "{\"type\":\"network\",\"path\":\"/var/run/netns/cni-1\"},{\"type\":\"user\"}"
                + rest)) {
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  PodSpec.refuseHostNamespaces(
                      spec("{" + cri + ",\"linux\":{\"namespaces\":[" + namespaces + "]}}")));
      assertTrue(e.getMessage().contains("hostUsers: false"), e.getMessage());
    }
  }

  @Test
  void bidirectionalPropagationIsRefusedHostToContainerIsNot() throws Exception {
    GuestSpec.refuseBidirectionalPropagation(
        spec(
            """
            {"mounts":[{"destination":"/a","type":"bind","source":"/x","options":["rbind","rslave"]},
                       {"destination":"/b","type":"bind","source":"/y","options":["rbind","rprivate"]}]}
            """));
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                GuestSpec.refuseBidirectionalPropagation(
                    spec(
                        """
                        {"mounts":[{"destination":"/data","type":"bind","source":"/x",
                                    "options":["rbind","rshared","rw"]}]}
                        """)));
    assertTrue(e.getMessage().contains("/data"), e.getMessage());
  }
}
