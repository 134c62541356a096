package dev.kataoperator.operator.it;

import static dev.kataoperator.operator.it.KubeApiServerResource.admin;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** What a user sees with kubectl: the printer columns and `kubectl explain`. */
@Tag("apiserver")
@QuarkusTest
@WithTestResource(KubeApiServerResource.class)
class KubectlTest {

  static String kubectl(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>();
    cmd.add(KubeApiServerResource.kubectl().toString());
    cmd.add("--kubeconfig=" + KubeApiServerResource.kubeconfig());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "kubectl hung");
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  @AfterEach
  void cleanUp() {
    admin().resources(KataConfig.class).delete();
    await()
        .atMost(Duration.ofSeconds(45))
        .until(() -> admin().resources(KataConfig.class).list().getItems().isEmpty());
  }

  @Test
  void getShowsReadyNodesInstalledAge() throws Exception {
    KataConfig kc = KataConfigOperatorTest.kataConfig("cluster", s -> {});
    admin().resource(kc).create();
    await()
        .atMost(Duration.ofSeconds(45))
        .until(
            () ->
                admin().resources(KataConfig.class).withName("cluster").get().getStatus() != null);
    String out = kubectl("get", "kataconfig");
    String[] lines = out.strip().split("\n");
    // fabric8's generator orders the columns by JSON path, so AGE comes first.
    List<String> header = List.of(lines[0].split("\\s+"));
    assertEquals(Set.of("NAME", "READY", "NODES", "INSTALLED", "AGE"), Set.copyOf(header), out);
    List<String> row = List.of(lines[1].split("\\s+"));
    assertEquals("cluster", row.get(header.indexOf("NAME")), out);
    assertEquals("False", row.get(header.indexOf("READY")), out);
    assertEquals("0", row.get(header.indexOf("NODES")), out);
    assertEquals("0", row.get(header.indexOf("INSTALLED")), out);
    assertTrue(row.get(header.indexOf("AGE")).matches("\\d+s"), out);
    assertTrue(kubectl("get", "kc").contains("cluster"), "short name kc");
  }

  @Test
  void explainDescribesTheSpec() throws Exception {
    String out = kubectl("explain", "kataconfig.spec.virtualization");
    assertTrue(out.contains("AllowSoftwareEmulation"), out);
    assertTrue(out.contains("Never chosen"), out);
    String top = kubectl("explain", "kataconfig").replaceAll("\\s+", " ");
    assertTrue(top.contains("only one KataConfig per cluster is acted on"), top);
  }
}
