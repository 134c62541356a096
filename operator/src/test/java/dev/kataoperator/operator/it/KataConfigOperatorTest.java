package dev.kataoperator.operator.it;

import static dev.kataoperator.contract.InstallerContract.*;
import static dev.kataoperator.operator.it.KubeApiServerResource.NAMESPACE;
import static dev.kataoperator.operator.it.KubeApiServerResource.admin;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.Hypervisor;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigSpec;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus;
import dev.kataoperator.operator.api.v1alpha1.RuntimeClassSpec;
import dev.kataoperator.operator.installer.InstallerResources;
import dev.kataoperator.operator.installer.KataPodPolicy;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ListOptions;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClassBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.dsl.Watchable;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The operator (running in this JVM, as its own ServiceAccount) against a real kube-apiserver.
 * There is no kubelet and no controller-manager: the tests play the installer by patching Node
 * labels and annotations exactly as the contract says, and pods stay Pending.
 */
@Tag("apiserver")
@QuarkusTest
@WithTestResource(KubeApiServerResource.class)
class KataConfigOperatorTest {
  static final Duration TIMEOUT = Duration.ofSeconds(45);
  static final String NAME = "cluster";

  @BeforeEach
  void nodes() {
    node("node-a", Map.of("kubernetes.io/os", "linux", "pool", "sandbox"));
    node("node-b", Map.of("kubernetes.io/os", "linux", "pool", "sandbox"));
    node("node-win", Map.of("kubernetes.io/os", "windows", "pool", "sandbox"));
  }

  @AfterEach
  void cleanUp() {
    admin().pods().inAnyNamespace().withLabel("test", "kata").withGracePeriod(0).delete();
    admin().resources(KataConfig.class).delete();
    // Play the installers reverting their nodes, until every KataConfig is gone.
    await()
        .atMost(TIMEOUT)
        .pollInterval(Duration.ofMillis(500))
        .until(
            () -> {
              revertAllNodes();
              return admin().resources(KataConfig.class).list().getItems().isEmpty();
            });
    admin().nodes().delete();
    await().atMost(TIMEOUT).until(() -> admin().nodes().list().getItems().isEmpty());
  }

  // --- create -> DaemonSet, RBAC and status -----------------------------------------------

  @Test
  void createsInstallerDaemonSetRbacAndStatus() {
    KataConfig kc =
        kataConfig(
            NAME,
            s -> {
              s.installer.image = "registry.test/kata/installer:1.0";
              s.rollout.maxUnavailable = new IntOrString(2);
              s.nodeSelector =
                  new io.fabric8.kubernetes.api.model.LabelSelectorBuilder()
                      .addToMatchLabels("pool", "sandbox")
                      .build();
            });
    admin().resource(kc).create();

    DaemonSet ds = awaitDaemonSet(d -> true);
    var pod = ds.getSpec().getTemplate().getSpec();
    var c = pod.getContainers().get(0);
    assertEquals("registry.test/kata/installer:1.0", c.getImage());
    assertTrue(c.getSecurityContext().getPrivileged());
    assertEquals("system-node-critical", pod.getPriorityClassName());
    assertEquals(InstallerResources.NAME, pod.getServiceAccountName());
    assertTrue(pod.getHostPID());
    assertEquals("install", env(ds, ENV_MODE));
    assertEquals("kata-qemu=qemu", env(ds, ENV_RUNTIME_CLASSES));
    assertTrue(
        pod.getVolumes().stream()
            .anyMatch(v -> v.getHostPath() != null && "/opt".equals(v.getHostPath().getPath())));
    assertTrue(
        c.getVolumeMounts().stream()
            .anyMatch(m -> "/host/etc/containerd".equals(m.getMountPath())));
    assertEquals("RollingUpdate", ds.getSpec().getUpdateStrategy().getType());
    assertEquals(
        2, ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getIntVal());
    var terms =
        pod.getAffinity()
            .getNodeAffinity()
            .getRequiredDuringSchedulingIgnoredDuringExecution()
            .getNodeSelectorTerms();
    assertEquals(1, terms.size());
    assertTrue(
        terms.get(0).getMatchExpressions().stream()
            .anyMatch(e -> e.getKey().equals("pool") && e.getValues().equals(List.of("sandbox"))));

    assertNotNull(sa());
    assertNotNull(
        admin().resources(ClusterRole.class).withName(InstallerResources.CLUSTER_ROLE).get());
    assertNotNull(
        admin()
            .resources(ClusterRoleBinding.class)
            .withName(InstallerResources.CLUSTER_ROLE)
            .get());
    Role role =
        admin()
            .resources(Role.class)
            .inNamespace(NAMESPACE)
            .withName(InstallerResources.NAME)
            .get();
    assertEquals(List.of(InstallerResources.NAME), role.getRules().get(0).getResourceNames());
    assertNotNull(
        admin()
            .resources(RoleBinding.class)
            .inNamespace(NAMESPACE)
            .withName(InstallerResources.NAME)
            .get());

    KataConfig st = awaitStatus(NAME, k -> k.getStatus().selectedNodes == 2);
    assertEquals(1L, st.getMetadata().getGeneration(), "the operator never writes the spec");
    assertEquals(1L, st.getStatus().observedGeneration);
    assertEquals(2, st.getStatus().pendingNodes);
    assertEquals(0, st.getStatus().installedNodes);
    assertEquals("False", condition(st, "Ready").getStatus());
    assertEquals("True", condition(st, "Progressing").getStatus());
    assertEquals("False", condition(st, "Degraded").getStatus());
    assertEquals(
        List.of("node-a", "node-b"), st.getStatus().nodes.stream().map(n -> n.name).toList());
    assertFalse(st.getMetadata().getFinalizers().isEmpty(), "finalizer set");
    assertTrue(
        admin().resources(RuntimeClass.class).list().getItems().isEmpty(), "no node, no class");
  }

  // --- node reports -> RuntimeClasses -----------------------------------------------------

  @Test
  void nodeReportsPublishRuntimeClassesWithOverheadAndSelector() {
    admin()
        .resource(
            kataConfig(
                NAME,
                s -> {
                  s.runtimeClasses =
                      List.of(
                          rc("kata-qemu", Hypervisor.qemu, true, "300m", "200Mi"),
                          rc("kata-qemu-big", Hypervisor.qemu, false, "100m", "120Mi"));
                }))
        .create();
    String hash = env(awaitDaemonSet(d -> true), ENV_CONFIG_HASH);

    report("node-a", "installed", hash, List.of("kata-qemu"), "pvm");
    RuntimeClass qemu = awaitRuntimeClass("kata-qemu");
    assertEquals("kata-qemu", qemu.getHandler());
    assertEquals(new Quantity("300m"), qemu.getOverhead().getPodFixed().get("cpu"));
    assertEquals(new Quantity("200Mi"), qemu.getOverhead().getPodFixed().get("memory"));
    assertEquals(
        Map.of("kataoperator.dev/kata-qemu", "true"), qemu.getScheduling().getNodeSelector());
    RuntimeClass alias = awaitRuntimeClass("kata");
    assertEquals("kata-qemu", alias.getHandler());
    assertEquals(qemu.getScheduling().getNodeSelector(), alias.getScheduling().getNodeSelector());
    assertNull(
        admin().resources(RuntimeClass.class).withName("kata-qemu-big").get(),
        "no node reported it");

    KataConfig one = awaitStatus(NAME, k -> k.getStatus().installedNodes == 1);
    NodeStatus a = one.getStatus().nodes.get(0);
    assertEquals(NodeStatus.Phase.Installed, a.phase);
    assertEquals("pvm", a.virtualization);
    assertEquals("3.0.0", a.payloadVersion);
    assertTrue(a.upToDate);
    assertEquals("False", condition(one, "Ready").getStatus());

    report("node-b", "installed", hash, List.of("kata-qemu", "kata-qemu-big"), "hardware");
    RuntimeClass fc = awaitRuntimeClass("kata-qemu-big");
    assertEquals(new Quantity("120Mi"), fc.getOverhead().getPodFixed().get("memory"));
    KataConfig ready = awaitStatus(NAME, k -> isTrue(k, "Ready"));
    assertEquals(2, ready.getStatus().installedNodes);
    assertEquals(List.of("kata", "kata-qemu", "kata-qemu-big"), ready.getStatus().runtimeClasses);
    String readySince = condition(ready, "Ready").getLastTransitionTime();

    // A node loses a class: it goes, the rest stays; Ready's transition time holds.
    report("node-b", "installed", hash, List.of("kata-qemu"), "hardware");
    await()
        .atMost(TIMEOUT)
        .until(() -> admin().resources(RuntimeClass.class).withName("kata-qemu-big").get() == null);
    KataConfig after = awaitStatus(NAME, k -> k.getStatus().runtimeClasses.size() == 2);
    assertEquals(readySince, condition(after, "Ready").getLastTransitionTime());
    assertNotNull(admin().resources(RuntimeClass.class).withName("kata-qemu").get());

    // A failure is Degraded, with the installer's message.
    report("node-a", "failed", hash, List.of(), "none");
    KataConfig degraded = awaitStatus(NAME, k -> isTrue(k, "Degraded"));
    assertTrue(condition(degraded, "Degraded").getMessage().contains("node-a"));
    assertTrue(condition(degraded, "Degraded").getMessage().contains("no KVM here"));
    assertEquals("False", condition(degraded, "Ready").getStatus());

    List<Event> events =
        admin().v1().events().inNamespace("default").list().getItems().stream()
            .filter(e -> NAME.equals(e.getInvolvedObject().getName()))
            .toList();
    assertTrue(events.stream().anyMatch(e -> "RuntimeClassPublished".equals(e.getReason())));
    assertTrue(
        events.stream()
            .anyMatch(e -> "NodeFailed".equals(e.getReason()) && "Warning".equals(e.getType())));
  }

  // --- the installer's permissions -------------------------------------------------------

  @Test
  void installerMayPatchOnlyItsOwnNodeAndOnlyContractKeys() throws Exception {
    admin().resource(kataConfig(NAME, s -> {})).create();
    awaitDaemonSet(d -> true);
    await()
        .atMost(TIMEOUT)
        .until(
            () ->
                admin()
                        .resources(ValidatingAdmissionPolicyBinding.class)
                        .withName(InstallerResources.NODE_POLICY)
                        .get()
                    != null);
    // An installer pod on node-a (no scheduler here: nodeName set directly) and its token.
    var pod =
        admin()
            .pods()
            .inNamespace(NAMESPACE)
            .resource(
                new PodBuilder()
                    .withNewMetadata()
                    .withName("installer-on-a")
                    .addToLabels("test", "kata")
                    .endMetadata()
                    .withNewSpec()
                    .withNodeName("node-a")
                    .withServiceAccountName(InstallerResources.NAME)
                    .addNewContainer()
                    .withName("installer")
                    .withImage("installer")
                    .endContainer()
                    .endSpec()
                    .build())
            .create();
    String token =
        admin()
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
                    .withExpirationSeconds(3600L)
                    .endSpec()
                    .build())
            .getStatus()
            .getToken();
    Config adminConfig = admin().getConfiguration();
    Config config =
        new ConfigBuilder(Config.empty())
            .withMasterUrl(adminConfig.getMasterUrl())
            .withCaCertData(adminConfig.getCaCertData())
            .withCaCertFile(adminConfig.getCaCertFile())
            .withOauthToken(token)
            .build();
    try (KubernetesClient installer = new KubernetesClientBuilder().withConfig(config).build()) {
      // The API server takes a moment to start enforcing a new policy: probe with dry runs.
      await()
          .atMost(TIMEOUT)
          .until(
              () -> {
                try {
                  installer
                      .nodes()
                      .withName("node-b")
                      .dryRun()
                      .edit(
                          n -> {
                            n.getMetadata().getLabels().put(LABEL_STATE, "probe");
                            return n;
                          });
                  return false;
                } catch (KubernetesClientException e) {
                  return e.getMessage().contains("only the Node its pod runs on");
                }
              });
      // Its own node, contract keys: allowed.
      installer
          .nodes()
          .withName("node-a")
          .edit(
              n -> {
                n.getMetadata().getLabels().put(LABEL_STATE, "installing");
                n.getMetadata().setAnnotations(Map.of(ANNOTATION_MESSAGE, "unpacking payload"));
                return n;
              });
      assertEquals(
          "installing",
          admin().nodes().withName("node-a").get().getMetadata().getLabels().get(LABEL_STATE));
      assertNotNull(
          installer
              .apps()
              .daemonSets()
              .inNamespace(NAMESPACE)
              .withName(InstallerResources.NAME)
              .get());

      assertDenied(
          "only the Node its pod runs on",
          () ->
              installer
                  .nodes()
                  .withName("node-b")
                  .edit(
                      n -> {
                        n.getMetadata().getLabels().put(LABEL_STATE, "installed");
                        return n;
                      }));
      assertDenied(
          "only kataoperator.dev/ labels",
          () ->
              installer
                  .nodes()
                  .withName("node-a")
                  .edit(
                      n -> {
                        n.getMetadata().getLabels().put("pool", "attacker");
                        return n;
                      }));
      assertDenied(
          "a Node's spec",
          () ->
              installer
                  .nodes()
                  .withName("node-a")
                  .edit(
                      n -> {
                        n.getSpec().setUnschedulable(true);
                        return n;
                      }));
      assertDenied("forbidden", () -> installer.nodes().withName("node-b").delete());
      assertDenied("forbidden", () -> installer.pods().inAnyNamespace().list());
      assertDenied(
          "forbidden",
          () -> installer.apps().daemonSets().inNamespace(NAMESPACE).withName("other").get());
    }
  }

  static void assertDenied(String expected, Runnable call) {
    KubernetesClientException e = assertThrows(KubernetesClientException.class, call::run);
    assertTrue(e.getCode() == 403 || e.getCode() == 422, e.getCode() + ": " + e.getMessage());
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }

  // --- pods our runtime cannot run ----------------------------------------------------------

  @Test
  void kataPodsAskingForHostNamespacesAreRejectedAtAdmission() throws Exception {
    admin().resource(kataConfig(NAME, s -> {})).create();
    String hash = env(awaitDaemonSet(d -> true), ENV_CONFIG_HASH);
    report("node-a", "installed", hash, List.of("kata-qemu"), "hardware");
    // The RuntimeClass admission plugin refuses pods of a class that does not exist.
    awaitRuntimeClass("kata");
    awaitRuntimeClass("kata-qemu");
    admin()
        .resource(
            new RuntimeClassBuilder()
                .withNewMetadata()
                .withName("runc")
                .endMetadata()
                .withHandler("runc")
                .build())
        .serverSideApply();
    try {
      // The API server takes a moment to start enforcing a new policy: probe with dry runs.
      await()
          .atMost(TIMEOUT)
          .pollInterval(Duration.ofMillis(500))
          .until(
              () -> {
                try {
                  admin()
                      .pods()
                      .inNamespace("default")
                      .resource(pod("probe", "kata-qemu", p -> p.setHostNetwork(true)))
                      .dryRun()
                      .create();
                  return false;
                } catch (KubernetesClientException e) {
                  return e.getMessage().contains("spec.hostNetwork");
                }
              });

      Map<String, Consumer<PodSpec>> fields =
          Map.of(
              "hostNetwork", p -> p.setHostNetwork(true),
              "hostPID", p -> p.setHostPID(true),
              "hostIPC", p -> p.setHostIPC(true),
              "hostUsers=false", p -> p.setHostUsers(false));
      for (var f : fields.entrySet()) {
        for (String rc : List.of("kata-qemu", "kata")) {
          KubernetesClientException e =
              assertThrows(
                  KubernetesClientException.class,
                  () ->
                      admin()
                          .pods()
                          .inNamespace("default")
                          .resource(pod("bad", rc, f.getValue()))
                          .create(),
                  f.getKey() + " with " + rc);
          assertEquals(422, e.getCode(), e.getMessage());
          String expected =
              "spec."
                  + f.getKey()
                  + " is not supported with runtimeClassName "
                  + rc
                  + ": Kata pods run in their own VM";
          assertTrue(e.getMessage().contains(expected), e.getMessage());
          assertTrue(
              e.getMessage().contains("use runc (no runtimeClassName) for pods that need this"),
              e.getMessage());
        }
      }

      // The same pod with runc, explicitly or by default, and a plain Kata pod are admitted.
      var pods = admin().pods().inNamespace("default");
      assertNotNull(pods.resource(pod("host-runc", "runc", p -> p.setHostNetwork(true))).create());
      assertNotNull(pods.resource(pod("host-default", null, p -> p.setHostNetwork(true))).create());
      assertNotNull(pods.resource(pod("plain-kata", "kata-qemu", p -> {})).create());
      // The pod's containers share one VM, and its process namespace (critest's PodPID passes).
      assertNotNull(
          pods.resource(pod("shared-pid-kata", "kata-qemu", p -> p.setShareProcessNamespace(true)))
              .create());
      assertNotNull(
          pods.resource(pod("kata-no-host-network", "kata", p -> p.setHostNetwork(false)))
              .create());
      assertNotNull(
          pods.resource(pod("kata-host-users", "kata", p -> p.setHostUsers(true))).create());

      // What the user sees.
      Path manifest = Files.createTempFile("kata-host-network", ".yaml");
      try {
        Files.writeString(
            manifest, Serialization.asYaml(pod("from-kubectl", "kata", p -> p.setHostPID(true))));
        Process kubectl =
            new ProcessBuilder(
                    KubeApiServerResource.kubectl().toString(),
                    "--kubeconfig=" + KubeApiServerResource.kubeconfig(),
                    "apply",
                    "-f",
                    manifest.toString())
                .redirectErrorStream(true)
                .start();
        String out = new String(kubectl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(kubectl.waitFor(60, TimeUnit.SECONDS), "kubectl hung");
        assertNotEquals(0, kubectl.exitValue(), out);
        assertTrue(
            out.contains(
                "spec.hostPID is not supported with runtimeClassName kata: Kata pods run in their"
                    + " own VM, which cannot see the node's processes"),
            out);
      } finally {
        Files.deleteIfExists(manifest);
      }
      assertNull(pods.withName("from-kubectl").get());
    } finally {
      admin().resources(RuntimeClass.class).withName("runc").delete();
    }
  }

  static Pod pod(String name, String runtimeClass, Consumer<PodSpec> spec) {
    Pod p =
        new PodBuilder()
            .withNewMetadata()
            .withName(name)
            .withNamespace("default")
            .addToLabels("test", "kata")
            .endMetadata()
            .withNewSpec()
            .withRuntimeClassName(runtimeClass)
            .addNewContainer()
            .withName("app")
            .withImage("busybox")
            .endContainer()
            .endSpec()
            .build();
    spec.accept(p.getSpec());
    return p;
  }

  // --- upgrade ----------------------------------------------------------------------------

  @Test
  void imageChangeRollsTheDaemonSetWithMaxUnavailable() {
    admin()
        .resource(
            kataConfig(
                NAME,
                s -> {
                  s.installer.image = "registry.test/kata/installer:1.0";
                  s.rollout.maxUnavailable = new IntOrString("50%");
                }))
        .create();
    DaemonSet v1 = awaitDaemonSet(d -> true);
    String hash1 = env(v1, ENV_CONFIG_HASH);
    report("node-a", "installed", hash1, List.of("kata-qemu"), "hardware");
    report("node-b", "installed", hash1, List.of("kata-qemu"), "hardware");
    awaitStatus(NAME, k -> isTrue(k, "Ready"));

    kataConfigResource(NAME)
        .edit(
            k -> {
              k.getSpec().installer.image = "registry.test/kata/installer:1.1";
              return k;
            });
    DaemonSet v2 =
        awaitDaemonSet(
            d ->
                "registry.test/kata/installer:1.1"
                    .equals(d.getSpec().getTemplate().getSpec().getContainers().get(0).getImage()));
    assertEquals("RollingUpdate", v2.getSpec().getUpdateStrategy().getType());
    assertEquals(
        "50%", v2.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getStrVal());
    String hash2 = env(v2, ENV_CONFIG_HASH);
    assertNotEquals(hash1, hash2);
    assertEquals("install", env(v2, ENV_MODE), "an upgrade never asks to revert");

    // Nodes still report the old settings: installed, but not up to date.
    KataConfig rolling = awaitStatus(NAME, k -> isTrue(k, "Progressing"));
    assertEquals(2, rolling.getStatus().installingNodes);
    assertTrue(rolling.getStatus().nodes.stream().noneMatch(n -> n.upToDate));
    assertNotNull(
        admin().resources(RuntimeClass.class).withName("kata-qemu").get(), "still usable");

    report("node-a", "installed", hash2, List.of("kata-qemu"), "hardware");
    report("node-b", "installed", hash2, List.of("kata-qemu"), "hardware");
    KataConfig done = awaitStatus(NAME, k -> isTrue(k, "Ready"));
    assertEquals("registry.test/kata/installer:1.1", done.getStatus().installerImage);

    // Only the rollout changes: same hash, so no node needs to reinstall.
    kataConfigResource(NAME)
        .edit(
            k -> {
              k.getSpec().rollout.maxUnavailable = new IntOrString(1);
              return k;
            });
    DaemonSet v3 =
        awaitDaemonSet(
            d ->
                d.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getIntVal()
                    != null);
    assertEquals(hash2, env(v3, ENV_CONFIG_HASH));
    assertTrue(isTrue(kataConfigResource(NAME).get(), "Ready"));
  }

  // --- a second KataConfig ------------------------------------------------------------------

  @Test
  void secondKataConfigIsRefusedAndTouchesNothing() {
    admin().resource(kataConfig(NAME, s -> s.installer.image = "registry.test/first:1")).create();
    awaitDaemonSet(d -> true);
    awaitStatus(NAME, k -> k.getStatus().selectedNodes == 2);

    admin()
        .resource(kataConfig("second", s -> s.installer.image = "registry.test/second:1"))
        .create();
    KataConfig refused = awaitStatus("second", k -> isTrue(k, "Degraded"));
    Condition degraded = condition(refused, "Degraded");
    assertEquals("DuplicateKataConfig", degraded.getReason());
    assertTrue(degraded.getMessage().contains("'" + NAME + "'"), degraded.getMessage());
    assertEquals("False", condition(refused, "Ready").getStatus());
    assertEquals(
        "registry.test/first:1",
        awaitDaemonSet(d -> true)
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()
            .get(0)
            .getImage());

    // Deleting the refused one leaves the active one's installer alone.
    kataConfigResource("second").delete();
    await().atMost(TIMEOUT).until(() -> kataConfigResource("second").get() == null);
    assertNotNull(daemonSet().get());
    assertEquals("False", condition(kataConfigResource(NAME).get(), "Degraded").getStatus());

    // A third one takes over once the active one is gone.
    admin()
        .resource(kataConfig("third", sp -> sp.installer.image = "registry.test/third:1"))
        .create();
    awaitStatus("third", k -> isTrue(k, "Degraded"));
    kataConfigResource(NAME).delete();
    awaitDaemonSet(
        d ->
            "registry.test/third:1"
                .equals(d.getSpec().getTemplate().getSpec().getContainers().get(0).getImage()));
    KataConfig third = awaitStatus("third", k -> !isTrue(k, "Degraded"));
    assertEquals(2, third.getStatus().selectedNodes);
  }

  // --- deletion ------------------------------------------------------------------------------

  @Test
  void deletionRevertsNodesThenRemovesEverything() {
    admin().resource(kataConfig(NAME, s -> {})).create();
    String hash = env(awaitDaemonSet(d -> true), ENV_CONFIG_HASH);
    report("node-a", "installed", hash, List.of("kata-qemu"), "pvm");
    report("node-b", "installed", hash, List.of("kata-qemu"), "pvm");
    awaitRuntimeClass("kata-qemu");
    awaitStatus(NAME, k -> isTrue(k, "Ready"));
    DeletionOrder order = new DeletionOrder();

    kataConfigResource(NAME).delete();
    DaemonSet uninstall = awaitDaemonSet(d -> "uninstall".equals(env(d, ENV_MODE)));
    assertEquals(
        "100%",
        uninstall.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getStrVal());
    KataConfig waiting =
        awaitStatus(NAME, k -> "Uninstalling".equals(condition(k, "Progressing").getReason()));
    assertTrue(condition(waiting, "Progressing").getMessage().contains("node-a"));
    assertNotNull(
        admin().resources(RuntimeClass.class).withName("kata-qemu").get(), "kept until reverted");

    // One node reverted: still waiting for the other.
    report("node-a", "uninstalled", env(uninstall, ENV_CONFIG_HASH), List.of(), "pvm");
    KataConfig half =
        awaitStatus(NAME, k -> !condition(k, "Progressing").getMessage().contains("node-a"));
    assertTrue(condition(half, "Progressing").getMessage().contains("node-b"));
    assertNotNull(kataConfigResource(NAME).get());

    // The other one has dropped its class labels but is not reverted yet: no node supports
    // kata-qemu any more, and still the classes go only at the end.
    report("node-b", "uninstalling", env(uninstall, ENV_CONFIG_HASH), List.of(), "pvm");
    awaitStatus(NAME, k -> k.getStatus().uninstallingNodes == 1);
    assertNotNull(admin().resources(RuntimeClass.class).withName("kata-qemu").get());
    assertNotNull(daemonSet().get());

    report("node-b", "uninstalled", env(uninstall, ENV_CONFIG_HASH), List.of(), "pvm");
    await().atMost(TIMEOUT).until(() -> kataConfigResource(NAME).get() == null);
    assertTrue(admin().resources(RuntimeClass.class).list().getItems().isEmpty());
    assertNull(daemonSet().get());
    assertNull(sa());
    assertNull(
        admin().resources(ClusterRole.class).withName(InstallerResources.CLUSTER_ROLE).get());
    assertNull(
        admin()
            .resources(ClusterRoleBinding.class)
            .withName(InstallerResources.CLUSTER_ROLE)
            .get());
    assertNull(
        admin()
            .resources(Role.class)
            .inNamespace(NAMESPACE)
            .withName(InstallerResources.NAME)
            .get());
    assertNull(
        admin()
            .resources(RoleBinding.class)
            .inNamespace(NAMESPACE)
            .withName(InstallerResources.NAME)
            .get());
    for (String policy : List.of(InstallerResources.NODE_POLICY, KataPodPolicy.NAME)) {
      assertNull(admin().resources(ValidatingAdmissionPolicy.class).withName(policy).get());
      assertNull(admin().resources(ValidatingAdmissionPolicyBinding.class).withName(policy).get());
    }

    // In the workflow's order: each object only after what depends on it.
    try (order) {
      String ds = "DaemonSet/" + InstallerResources.NAME;
      String installerRbac = InstallerResources.CLUSTER_ROLE;
      order.assertBefore("RuntimeClass/kata", ds);
      order.assertBefore("RuntimeClass/kata-qemu", ds);
      order.assertBefore(
          "RuntimeClass/kata-qemu", "ValidatingAdmissionPolicyBinding/" + KataPodPolicy.NAME);
      order.assertBefore(
          "ValidatingAdmissionPolicyBinding/" + KataPodPolicy.NAME,
          "ValidatingAdmissionPolicy/" + KataPodPolicy.NAME);
      order.assertBefore(ds, "ClusterRoleBinding/" + installerRbac);
      order.assertBefore("ClusterRoleBinding/" + installerRbac, "ClusterRole/" + installerRbac);
      order.assertBefore(
          "ClusterRoleBinding/" + installerRbac, "ServiceAccount/" + InstallerResources.NAME);
      order.assertBefore(ds, "RoleBinding/" + InstallerResources.NAME);
      order.assertBefore(
          "RoleBinding/" + InstallerResources.NAME, "Role/" + InstallerResources.NAME);
      order.assertBefore(ds, "ValidatingAdmissionPolicyBinding/" + InstallerResources.NODE_POLICY);
      order.assertBefore(
          "ValidatingAdmissionPolicyBinding/" + InstallerResources.NODE_POLICY,
          "ValidatingAdmissionPolicy/" + InstallerResources.NODE_POLICY);
    }
    Node a = admin().nodes().withName("node-a").get();
    assertTrue(a.getMetadata().getLabels().keySet().stream().noneMatch(k -> k.startsWith(PREFIX)));
    assertTrue(
        Optional.ofNullable(a.getMetadata().getAnnotations()).orElse(Map.of()).keySet().stream()
            .noneMatch(k -> k.startsWith(PREFIX)));
  }

  @Test
  void deletionWaitsForKataPodsUnlessForced() {
    admin().resource(kataConfig(NAME, s -> {})).create();
    String hash = env(awaitDaemonSet(d -> true), ENV_CONFIG_HASH);
    report("node-a", "installed", hash, List.of("kata-qemu"), "hardware");
    awaitRuntimeClass("kata");
    admin()
        .pods()
        .inNamespace("default")
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName("sandboxed")
                .addToLabels("test", "kata")
                .endMetadata()
                .withNewSpec()
                .withRuntimeClassName("kata")
                .addNewContainer()
                .withName("app")
                .withImage("busybox")
                .endContainer()
                .endSpec()
                .build())
        .create();

    kataConfigResource(NAME).delete();
    KataConfig blocked =
        awaitStatus(NAME, k -> "WaitingForPods".equals(condition(k, "Progressing").getReason()));
    assertTrue(condition(blocked, "Progressing").getMessage().contains("default/sandboxed"));
    // Still installing mode: nothing was reverted under the pod.
    assertEquals("install", env(daemonSet().get(), ENV_MODE));
    assertNotNull(admin().resources(RuntimeClass.class).withName("kata").get());

    kataConfigResource(NAME)
        .edit(
            k -> {
              k.getSpec().uninstall.force = true;
              return k;
            });
    DaemonSet uninstall = awaitDaemonSet(d -> "uninstall".equals(env(d, ENV_MODE)));
    report("node-a", "uninstalled", env(uninstall, ENV_CONFIG_HASH), List.of(), "hardware");
    await().atMost(TIMEOUT).until(() -> kataConfigResource(NAME).get() == null);
    assertTrue(admin().resources(RuntimeClass.class).list().getItems().isEmpty());
  }

  @Test
  void deletionWithoutAnyInstalledNodeIsImmediate() {
    admin().resource(kataConfig(NAME, s -> {})).create();
    awaitDaemonSet(d -> true);
    kataConfigResource(NAME).delete();
    await().atMost(TIMEOUT).until(() -> kataConfigResource(NAME).get() == null);
    assertNull(daemonSet().get());
  }

  // --- helpers -----------------------------------------------------------------------------

  /**
   * Records when each object the operator manages is deleted, as the etcd revision of the delete
   * (the resourceVersion of the DELETED watch event; one counter for every type), so the test can
   * compare deletions of different types.
   */
  static final class DeletionOrder implements AutoCloseable {
    final Map<String, Long> deleted = new ConcurrentHashMap<>();
    final List<Watch> watches = new ArrayList<>();
    final List<String> closed = new CopyOnWriteArrayList<>();

    DeletionOrder() {
      // From a list's resourceVersion: this etcd has no watch progress requests, so the API
      // server refuses a watch that starts "now".
      ListOptions from =
          new ListOptionsBuilder()
              .withLabelSelector(InstallerResources.MANAGED_SELECTOR)
              .withResourceVersion(
                  admin().resources(RuntimeClass.class).list().getMetadata().getResourceVersion())
              .build();
      watch(admin().resources(RuntimeClass.class), from);
      watch(admin().resources(ClusterRole.class), from);
      watch(admin().resources(ClusterRoleBinding.class), from);
      watch(admin().resources(ValidatingAdmissionPolicy.class), from);
      watch(admin().resources(ValidatingAdmissionPolicyBinding.class), from);
      watch(admin().apps().daemonSets().inNamespace(NAMESPACE), from);
      watch(admin().serviceAccounts().inNamespace(NAMESPACE), from);
      watch(admin().resources(Role.class).inNamespace(NAMESPACE), from);
      watch(admin().resources(RoleBinding.class).inNamespace(NAMESPACE), from);
    }

    <T extends HasMetadata> void watch(Watchable<T> w, ListOptions from) {
      watches.add(
          w.watch(
              from,
              new Watcher<T>() {
                @Override
                public void eventReceived(Action action, T r) {
                  if (action == Action.DELETED) {
                    deleted.put(
                        r.getKind() + "/" + r.getMetadata().getName(),
                        Long.parseLong(r.getMetadata().getResourceVersion()));
                  }
                }

                @Override
                public void onClose(WatcherException cause) {
                  closed.add(String.valueOf(cause));
                }
              }));
    }

    void assertBefore(String first, String then) {
      try {
        await()
            .atMost(TIMEOUT)
            .until(() -> deleted.containsKey(first) && deleted.containsKey(then));
      } catch (ConditionTimeoutException e) {
        throw new AssertionError(
            first + " or " + then + " not seen deleted: " + deleted + "; closed: " + closed, e);
      }
      assertTrue(
          deleted.get(first) < deleted.get(then),
          first + " deleted after " + then + ": " + deleted);
    }

    @Override
    public void close() {
      watches.forEach(Watch::close);
    }
  }

  static KataConfig kataConfig(String name, Consumer<KataConfigSpec> spec) {
    KataConfig kc = new KataConfig();
    kc.getMetadata().setName(name);
    KataConfigSpec s = new KataConfigSpec();
    spec.accept(s);
    kc.setSpec(s);
    return kc;
  }

  static RuntimeClassSpec rc(String name, Hypervisor h, boolean isDefault, String cpu, String mem) {
    RuntimeClassSpec c = new RuntimeClassSpec(name, h, isDefault);
    c.overhead = new RuntimeClassSpec.Overhead(cpu, mem);
    return c;
  }

  static void node(String name, Map<String, String> labels) {
    admin()
        .nodes()
        .resource(
            new NodeBuilder()
                .withNewMetadata()
                .withName(name)
                .withLabels(labels)
                .endMetadata()
                .build())
        .create();
  }

  /** Patches a node the way the installer does: annotations first, the state label last. */
  static void report(String node, String state, String hash, List<String> classes, String virt) {
    admin()
        .nodes()
        .withName(node)
        .edit(
            n -> {
              Map<String, String> ann =
                  new HashMap<>(
                      Optional.ofNullable(n.getMetadata().getAnnotations()).orElse(Map.of()));
              ann.put(ANNOTATION_VIRTUALIZATION, virt);
              ann.put(ANNOTATION_PAYLOAD_VERSION, "3.0.0");
              ann.put(ANNOTATION_CONFIG_HASH, hash);
              ann.put(ANNOTATION_INSTALLER_IMAGE, "whatever");
              if ("failed".equals(state)) {
                ann.put(ANNOTATION_MESSAGE, "no KVM here");
              } else {
                ann.remove(ANNOTATION_MESSAGE);
              }
              n.getMetadata().setAnnotations(ann);
              Map<String, String> labels = new HashMap<>(n.getMetadata().getLabels());
              labels.keySet().removeIf(k -> k.startsWith(PREFIX));
              classes.forEach(c -> labels.put(runtimeClassLabel(c), LABEL_TRUE));
              labels.put(LABEL_STATE, state);
              n.getMetadata().setLabels(labels);
              return n;
            });
  }

  static void revertAllNodes() {
    for (Node n : admin().nodes().list().getItems()) {
      String state = n.getMetadata().getLabels().get(LABEL_STATE);
      if (state != null && !"uninstalled".equals(state)) {
        report(n.getMetadata().getName(), "uninstalled", "any", List.of(), "none");
      }
    }
  }

  static Resource<KataConfig> kataConfigResource(String name) {
    return admin().resources(KataConfig.class).withName(name);
  }

  static Resource<DaemonSet> daemonSet() {
    return admin().apps().daemonSets().inNamespace(NAMESPACE).withName(InstallerResources.NAME);
  }

  static ServiceAccount sa() {
    return admin().serviceAccounts().inNamespace(NAMESPACE).withName(InstallerResources.NAME).get();
  }

  static DaemonSet awaitDaemonSet(java.util.function.Predicate<DaemonSet> p) {
    return await()
        .atMost(TIMEOUT)
        .pollInterval(Duration.ofMillis(200))
        .until(() -> daemonSet().get(), d -> d != null && p.test(d));
  }

  static RuntimeClass awaitRuntimeClass(String name) {
    return await()
        .atMost(TIMEOUT)
        .pollInterval(Duration.ofMillis(200))
        .until(() -> admin().resources(RuntimeClass.class).withName(name).get(), r -> r != null);
  }

  static KataConfig awaitStatus(String name, java.util.function.Predicate<KataConfig> p) {
    return await()
        .atMost(TIMEOUT)
        .pollInterval(Duration.ofMillis(200))
        .until(
            () -> kataConfigResource(name).get(),
            k -> k != null && k.getStatus() != null && p.test(k));
  }

  static String env(DaemonSet ds, String name) {
    return ds.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv().stream()
        .filter(e -> e.getName().equals(name))
        .map(EnvVar::getValue)
        .findFirst()
        .orElse(null);
  }

  static Condition condition(KataConfig k, String type) {
    return k.getStatus().conditions.stream()
        .filter(c -> c.getType().equals(type))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no " + type + " condition"));
  }

  static boolean isTrue(KataConfig k, String type) {
    return k.getStatus() != null
        && k.getStatus().conditions.stream()
            .anyMatch(c -> c.getType().equals(type) && "True".equals(c.getStatus()));
  }
}
