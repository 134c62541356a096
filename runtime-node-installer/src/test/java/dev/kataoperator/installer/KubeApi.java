package dev.kataoperator.installer;

import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;

/**
 * A real kube-apiserver and etcd (fabric8 kube-api-test, offline: the binaries that
 * e2e/kube/build-binaries.sh builds into ~/.kubeapitest), with the installer's ServiceAccount, RBAC
 * and admission policy exactly as the operator renders them ({@link InstallerResources}), two Nodes
 * and an installer pod on the first. The installer under test runs with that pod's bound token.
 */
final class KubeApi implements AutoCloseable {
  static final String NAMESPACE = "kata-operator-system";
  static final String NODE = "node-a";
  static final String OTHER_NODE = "node-b";

  private final KubeAPIServer server;
  private final KubernetesClient admin;

  private KubeApi(KubeAPIServer server, KubernetesClient admin) {
    this.server = server;
    this.admin = admin;
  }

  static KubeApi start() throws Exception {
    String version = System.getProperty("kata.kube.version", "1.35.4");
    var server =
        new KubeAPIServer(
            KubeAPIServerConfigBuilder.anAPIServerConfig()
                .withApiServerVersion(version)
                .withOfflineMode(true)
                .withUpdateKubeConfig(false)
                .withStartupTimeout(180_000)
                .build());
    try {
      server.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "kube-apiserver "
              + version
              + " did not start; are the binaries built? Run"
              + " e2e/kube/build-binaries.sh (make setup does)",
          e);
    }
    var admin =
        new KubernetesClientBuilder()
            .withConfig(Config.fromKubeconfig(server.getKubeConfigYaml()))
            .build();
    var api = new KubeApi(server, admin);
    try {
      api.prepare();
    } catch (Exception e) {
      api.close();
      throw e;
    }
    return api;
  }

  private void prepare() throws Exception {
    admin
        .namespaces()
        .resource(
            new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build())
        .serverSideApply();
    admin.resource(InstallerResources.serviceAccount(NAMESPACE)).serverSideApply();
    admin.resource(InstallerResources.clusterRole()).serverSideApply();
    admin.resource(InstallerResources.clusterRoleBinding(NAMESPACE)).serverSideApply();
    admin.resource(InstallerResources.role(NAMESPACE)).serverSideApply();
    admin.resource(InstallerResources.roleBinding(NAMESPACE)).serverSideApply();
    admin.resource(InstallerResources.nodePolicy(NAMESPACE)).serverSideApply();
    admin.resource(InstallerResources.nodePolicyBinding()).serverSideApply();
    for (String n : new String[] {NODE, OTHER_NODE}) {
      admin.nodes().resource(node(n)).create();
    }
  }

  static Node node(String name) {
    return new NodeBuilder()
        .withNewMetadata()
        .withName(name)
        .withLabels(Map.of("kubernetes.io/os", "linux", "kubernetes.io/hostname", name))
        .withAnnotations(Map.of("example.com/owner", "someone else"))
        .endMetadata()
        .build();
  }

  KubernetesClient admin() {
    return admin;
  }

  /**
   * A kubeconfig for an installer pod on {@link #NODE}: the ServiceAccount token bound to that pod,
   * which carries the node's name for the admission policy. Waits until the API server enforces the
   * policy.
   */
  Path installerKubeconfig(Path dir) throws Exception {
    Pod pod =
        admin
            .pods()
            .inNamespace(NAMESPACE)
            .resource(
                new PodBuilder()
                    .withNewMetadata()
                    .withName("installer-on-a")
                    .endMetadata()
                    .withNewSpec()
                    .withNodeName(NODE)
                    .withServiceAccountName(InstallerResources.NAME)
                    .addNewContainer()
                    .withName("installer")
                    .withImage("installer")
                    .endContainer()
                    .endSpec()
                    .build())
            .create();
    String token =
        admin
            .serviceAccounts()
            .inNamespace(NAMESPACE)
            .withName(InstallerResources.NAME)
            .tokenRequest(
                new TokenRequestBuilder()
                    .withNewSpec()
                    .withNewBoundObjectRef()
                    .withApiVersion("v1")
                    .withKind("Pod")
                    .withName(pod.getMetadata().getName())
                    .withUid(pod.getMetadata().getUid())
                    .endBoundObjectRef()
                    .withExpirationSeconds(6 * 3600L)
                    .endSpec()
                    .build())
            .getStatus()
            .getToken();
    Config a = admin.getConfiguration();
    String ca =
        a.getCaCertData() != null
            ? a.getCaCertData()
            : Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of(a.getCaCertFile())));
    Path file = dir.resolve("installer.kubeconfig");
    Files.writeString(
        file,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: "
            + a.getMasterUrl()
            + "\n    certificate-authority-data: "
            + ca
            + "\nusers:\n- name: installer\n  user:\n    token: "
            + token
            + "\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: installer\n"
            + "current-context: test\n",
        StandardCharsets.UTF_8);
    awaitPolicy(a.getMasterUrl(), a, token);
    return file;
  }

  /** The API server takes a moment to enforce a new policy: probe with dry runs. */
  private void awaitPolicy(String url, Config a, String token) throws Exception {
    Config c =
        new ConfigBuilder(Config.empty())
            .withMasterUrl(url)
            .withCaCertData(a.getCaCertData())
            .withCaCertFile(a.getCaCertFile())
            .withOauthToken(token)
            .build();
    try (KubernetesClient installer = new KubernetesClientBuilder().withConfig(c).build()) {
      long deadline = System.nanoTime() + 120_000_000_000L;
      while (true) {
        try {
          installer
              .nodes()
              .withName(OTHER_NODE)
              .dryRun()
              .edit(
                  n -> {
                    n.getMetadata().getLabels().put(InstallerContract.LABEL_STATE, "probe");
                    return n;
                  });
        } catch (KubernetesClientException e) {
          if (e.getMessage().contains("only the Node its pod runs on")) {
            return;
          }
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("the admission policy is not enforced after 120 s");
        }
        Thread.sleep(200);
      }
    }
  }

  @Override
  public void close() {
    admin.close();
    server.stop();
  }
}
