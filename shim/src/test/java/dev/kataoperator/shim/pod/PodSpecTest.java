package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
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
}
