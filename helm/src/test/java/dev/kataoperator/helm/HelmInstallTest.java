package dev.kataoperator.helm;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * helm install of the chart on a real kube-apiserver (fabric8 kube-api-test, offline; binaries from
 * e2e/kube/build-binaries.sh): the CRD, RBAC and Deployment are accepted, and the KataConfig the
 * chart renders passes the CRD's schema and CEL rules. No kubelet: the operator never runs.
 */
@Tag("apiserver")
class HelmInstallTest {
  static final String VERSION = System.getProperty("kata.kube.version", "1.35.4");
  static KubeAPIServer server;
  static Path kubeconfig;

  @BeforeAll
  static void startApiServer() throws Exception {
    server =
        new KubeAPIServer(
            KubeAPIServerConfigBuilder.anAPIServerConfig()
                .withApiServerVersion(VERSION)
                .withOfflineMode(true)
                .withUpdateKubeConfig(false)
                .withStartupTimeout(180_000)
                .build());
    try {
      server.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "kube-apiserver " + VERSION + " did not start; run e2e/kube/build-binaries.sh", e);
    }
    kubeconfig = Files.createTempFile("kata-helm", ".kubeconfig");
    Files.writeString(kubeconfig, server.getKubeConfigYaml());
  }

  @AfterAll
  static void stopApiServer() throws Exception {
    if (server != null) {
      server.stop();
    }
    if (kubeconfig != null) {
      Files.deleteIfExists(kubeconfig);
    }
  }

  @Test
  void installsWithAKataConfigAndKeepsItOnUninstall() throws Exception {
    List<String> args =
        new ArrayList<>(
            List.of(
                "install",
                "kata-operator",
                Helm.CHART.toString(),
                "-n",
                Helm.NAMESPACE,
                "--create-namespace",
                "--kubeconfig",
                kubeconfig.toString(),
                "--timeout",
                "3m"));
    for (String s : HelmChartTest.kataDeployLikeValues()) {
      args.add("--set");
      args.add(s);
    }
    var install = Helm.run(args).ok();
    assertTrue(install.out().contains("STATUS: deployed"), install.out());
    assertTrue(install.out().contains("kubectl get kataconfig"), "NOTES.txt:\n" + install.out());

    JsonNode kc = Helm.YAML.readTree(kubectl("get", "kataconfig", "sandbox", "-o", "yaml"));
    JsonNode spec = kc.path("spec");
    assertAll(
        () -> assertEquals("AllowSoftwareEmulation", spec.path("virtualization").asText()),
        () -> assertEquals("k3s", spec.at("/containerd/flavor").asText()),
        () -> assertEquals("500m", spec.at("/runtimeClasses/0/overhead/cpu").asText()),
        // A default the API server filled in from the CRD.
        () -> assertEquals("IfNotPresent", spec.at("/installer/imagePullPolicy").asText()));
    JsonNode role =
        Helm.YAML.readTree(kubectl("get", "clusterrole", "kata-operator", "-o", "yaml"));
    JsonNode tested =
        Helm.parse(Files.readString(Path.of(System.getProperty("kata.rbac.file")))).stream()
            .filter(d -> d.path("kind").asText().equals("ClusterRole"))
            .findFirst()
            .orElseThrow();
    assertEquals(
        tested.path("rules"), role.path("rules"), "the ClusterRole as the API server stored it");
    JsonNode deployment =
        Helm.YAML.readTree(
            kubectl("-n", Helm.NAMESPACE, "get", "deployment", "kata-operator", "-o", "yaml"));
    assertEquals(
        "RuntimeDefault",
        deployment.at("/spec/template/spec/securityContext/seccompProfile/type").asText());

    Helm.run(
            List.of(
                "uninstall",
                "kata-operator",
                "-n",
                Helm.NAMESPACE,
                "--kubeconfig",
                kubeconfig.toString()))
        .ok();
    assertEquals(
        "sandbox",
        Helm.YAML
            .readTree(kubectl("get", "kataconfig", "sandbox", "-o", "yaml"))
            .at("/metadata/name")
            .asText(),
        "helm.sh/resource-policy: keep leaves the KataConfig for the operator to uninstall");
    var gone = kubectlRaw("get", "clusterrole", "kata-operator");
    assertTrue(gone.exit() != 0 && gone.err().contains("NotFound"), gone.err());
  }

  static String kubectl(String... args) throws Exception {
    return kubectlRaw(args).ok().out();
  }

  static Helm.Result kubectlRaw(String... args) throws Exception {
    String dir =
        System.getenv()
            .getOrDefault("KUBE_API_TEST_DIR", System.getProperty("user.home") + "/.kubeapitest");
    Path kubectl = Path.of(dir, "k8s", VERSION + "-linux-amd64", "kubectl");
    List<String> cmd =
        new ArrayList<>(List.of(kubectl.toString(), "--kubeconfig", kubeconfig.toString()));
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile("kubectl", ".out");
    Path err = Files.createTempFile("kubectl", ".err");
    try {
      Process p =
          new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("timed out: " + cmd);
      }
      return new Helm.Result(p.exitValue(), Files.readString(out), Files.readString(err));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }
}
