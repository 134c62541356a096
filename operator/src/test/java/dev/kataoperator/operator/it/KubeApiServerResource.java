package dev.kataoperator.operator.it;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A real kube-apiserver with etcd (fabric8 kube-api-test, binaries from e2e/kube/build-binaries.sh;
 * never downloaded), with the checked-in CRD and the operator's RBAC from
 * src/main/kubernetes/rbac.yaml applied. The operator under test authenticates as its
 * ServiceAccount, so it runs with exactly that RBAC; tests use {@link #admin()}.
 */
public class KubeApiServerResource implements QuarkusTestResourceLifecycleManager {
  public static final String NAMESPACE = "kata-operator-system";
  private static KubeAPIServer server;
  private static KubernetesClient admin;
  private static Path kubeconfig;

  public static KubernetesClient admin() {
    return admin;
  }

  /** An admin kubeconfig file, for kubectl. */
  public static Path kubeconfig() {
    return kubeconfig;
  }

  /** The kubectl that e2e/kube/build-binaries.sh put next to kube-apiserver. */
  public static Path kubectl() {
    String dir =
        Optional.ofNullable(System.getenv("KUBE_API_TEST_DIR"))
            .orElse(System.getProperty("user.home") + "/.kubeapitest");
    return Path.of(
        dir, "k8s", System.getProperty("kata.kube.version", "1.35.4") + "-linux-amd64", "kubectl");
  }

  @Override
  public Map<String, String> start() {
    String version = System.getProperty("kata.kube.version", "1.35.4");
    server =
        new KubeAPIServer(
            KubeAPIServerConfigBuilder.anAPIServerConfig()
                .withApiServerVersion(version)
                .withOfflineMode(true)
                .withUpdateKubeConfig(false)
                .withStartupTimeout(120_000)
                .build());
    try {
      server.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "kube-apiserver "
              + version
              + " did not start; are the binaries built? Run e2e/kube/build-binaries.sh"
              + " (scripts/setup.sh does)",
          e);
    }
    Config config = Config.fromKubeconfig(server.getKubeConfigYaml());
    try {
      kubeconfig = Files.createTempFile("kata-operator-test", ".kubeconfig");
      Files.writeString(kubeconfig, server.getKubeConfigYaml());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    admin = new KubernetesClientBuilder().withConfig(config).build();
    try {
      applyCrds();
      admin
          .namespaces()
          .resource(
              new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build())
          .serverSideApply();
      try (InputStream rbac =
          Files.newInputStream(Path.of(System.getProperty("kata.rbac.dir"), "rbac.yaml"))) {
        admin.load(rbac).serverSideApply();
      }
      String token =
          admin
              .serviceAccounts()
              .inNamespace(NAMESPACE)
              .withName("kata-operator")
              .tokenRequest(
                  new TokenRequestBuilder()
                      .withNewSpec()
                      .withExpirationSeconds(6 * 3600L)
                      .endSpec()
                      .build())
              .getStatus()
              .getToken();
      Map<String, String> props = new HashMap<>();
      props.put("quarkus.kubernetes-client.api-server-url", config.getMasterUrl());
      if (config.getCaCertData() != null) {
        props.put("quarkus.kubernetes-client.ca-cert-data", config.getCaCertData());
      } else {
        props.put("quarkus.kubernetes-client.ca-cert-file", config.getCaCertFile());
      }
      props.put("quarkus.kubernetes-client.token", token);
      props.put("quarkus.kubernetes-client.namespace", NAMESPACE);
      return props;
    } catch (Exception e) {
      stop();
      throw new IllegalStateException("could not prepare the API server", e);
    }
  }

  private static void applyCrds() throws Exception {
    Path dir = Path.of(System.getProperty("kata.crds.dir"));
    try (var files = Files.list(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".yml")).toList()) {
        try (InputStream in = Files.newInputStream(f)) {
          CustomResourceDefinition crd =
              admin.apiextensions().v1().customResourceDefinitions().load(in).item();
          admin.resource(crd).serverSideApply();
          admin
              .apiextensions()
              .v1()
              .customResourceDefinitions()
              .withName(crd.getMetadata().getName())
              .waitUntilCondition(
                  c ->
                      c != null
                          && c.getStatus() != null
                          && c.getStatus().getConditions() != null
                          && c.getStatus().getConditions().stream()
                              .anyMatch(
                                  x ->
                                      "Established".equals(x.getType())
                                          && "True".equals(x.getStatus())),
                  Duration.ofSeconds(30).toMillis(),
                  TimeUnit.MILLISECONDS);
        }
      }
    }
  }

  @Override
  public void stop() {
    if (admin != null) {
      admin.close();
      admin = null;
    }
    if (server != null) {
      server.stop();
      server = null;
    }
    if (kubeconfig != null) {
      kubeconfig.toFile().delete();
    }
  }
}
