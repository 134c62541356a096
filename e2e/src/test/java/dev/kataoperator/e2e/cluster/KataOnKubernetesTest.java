package dev.kataoperator.e2e.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The user's whole job on a real single-node Kubernetes (the local cluster: upstream kubelet,
 * containerd 2.2, CNI): {@code helm install} the operator, apply a KataConfig, the installer
 * DaemonSet installs the node (payload, containerd config, a real containerd restart, labels), the
 * KataConfig is Ready and RuntimeClasses are published; pods with {@code runtimeClassName: kata}
 * run in VMs beside runc pods; an installer upgrade rolls without disturbing a running kata pod;
 * deleting the KataConfig waits for kata pods, then uninstalls (containerd's config byte-identical,
 * /opt/kata gone, RuntimeClasses gone); {@code helm uninstall} leaves nothing of the release. Phase
 * durations are printed as one benchmark line at the end.
 */
@Tag("cluster")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KataOnKubernetesTest {
  static final String VERSION = System.getProperty("kata.project.version", "0.1.0-SNAPSHOT");
  static final String OPERATOR_IMAGE = "localhost/kata-operator/operator:" + VERSION;
  static final String INSTALLER_IMAGE = "localhost/kata-operator/runtime-node-installer:" + VERSION;
  static final String INSTALLER_IMAGE_B = INSTALLER_IMAGE + "-b";
  static final String RELEASE_NAMESPACE = "kata-operator-system";
  static final Path HELM = Path.of("/opt/kata-dev-tools/bin/helm");
  static final Path OPT_KATA = Path.of("/opt/kata");
  static final ResourceDefinitionContext KATACONFIG =
      new ResourceDefinitionContext.Builder()
          .withGroup("kataoperator.dev")
          .withVersion("v1alpha1")
          .withKind("KataConfig")
          .withPlural("kataconfigs")
          .withNamespaced(false)
          .build();
  // Generous: two cores under software emulation, shared with other work.
  static final Duration READY_LIMIT = Duration.ofMinutes(8);
  static final Duration POD_LIMIT = Duration.ofMinutes(5);
  static final Duration KUBECTL = Duration.ofMinutes(3);
  static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  private Cluster cluster;
  private boolean up;
  private String configBefore;
  private final Map<String, Long> phases = new java.util.LinkedHashMap<>();

  @BeforeAll
  void up() throws Exception {
    assertTrue(Files.isExecutable(HELM), HELM + " missing: run make setup");
    // This test installs a node's payload at /opt/kata: there must be none (an empty directory
    // left by an earlier hostPath mount is removed; it holds nothing).
    if (Files.isDirectory(OPT_KATA)) {
      try (var entries = Files.list(OPT_KATA)) {
        assertFalse(entries.findAny().isPresent(), OPT_KATA + " is in use: not installing over it");
      }
      Files.delete(OPT_KATA);
    }
    Path installer = ImagesForTests.installer();
    Path operator = ImagesForTests.operator();
    cluster = Cluster.create();
    up = true;
    long t = System.nanoTime();
    cluster.up();
    phase("cluster up", t);
    cluster.importImage(installer);
    cluster.importImage(operator);
    configBefore = Files.readString(Path.of(cluster.containerdConfigPath()));
  }

  @AfterAll
  void down() throws Exception {
    if (!up) {
      return;
    }
    up = false;
    try {
      cluster.down();
    } finally {
      System.out.println(
          "BENCHMARK kata-on-kubernetes "
              + String.join(
                  ", ",
                  phases.entrySet().stream()
                      .map(e -> e.getKey() + " " + e.getValue() + " s")
                      .toList()));
    }
  }

  private void phase(String name, long startNanos) {
    phases.put(name, TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - startNanos));
  }

  // ------------------------------------------------------------------------------- install

  @Test
  @Order(1)
  void helmInstallsTheOperator() throws Exception {
    long t = System.nanoTime();
    List<String> cmd =
        new ArrayList<>(
            List.of(
                HELM.toString(),
                "--kubeconfig",
                cluster.kubeconfig().toString(),
                "install",
                "kata-operator",
                Tools.repoRoot().resolve("helm/kata-operator").toString(),
                "--namespace",
                RELEASE_NAMESPACE,
                "--create-namespace",
                "--wait",
                "--timeout",
                "8m",
                "--set",
                "leaderElection.enabled=false"));
    if (cluster.hostNamespacesPid() != 1) {
      cmd.addAll(
          List.of("--set-string", "installer.hostNamespacesPid=" + cluster.hostNamespacesPid()));
    }
    Exec.run(Duration.ofMinutes(10), cmd).ok();
    phase("helm install", t);
    var deployment =
        cluster
            .client()
            .apps()
            .deployments()
            .inNamespace(RELEASE_NAMESPACE)
            .withName("kata-operator")
            .get();
    assertNotNull(deployment, "the chart's Deployment");
    assertEquals(1, deployment.getStatus().getReadyReplicas(), "operator ready");
  }

  @Test
  @Order(2)
  void aKataConfigInstallsTheNodeAndPublishesRuntimeClasses() throws Exception {
    ObjectNode kc =
        (ObjectNode)
            YAML.readTree(Tools.repoRoot().resolve("examples/kataconfig-tcg.yaml").toFile());
    ObjectNode containerd = ((ObjectNode) kc.path("spec")).putObject("containerd");
    containerd.put("flavor", "containerd");
    containerd.put("configPath", cluster.containerdConfigPath());
    containerd.put("restartMethod", "command");
    var restart = containerd.putArray("restartCommand");
    cluster.containerdRestartCommand().orElseThrow().forEach(restart::add);
    long t = System.nanoTime();
    cluster
        .client()
        .genericKubernetesResources(KATACONFIG)
        .resource(YAML.convertValue(kc, GenericKubernetesResource.class))
        .create();
    await(READY_LIMIT, "KataConfig Ready", () -> condition("Ready").equals("True"));
    phase("KataConfig applied -> Ready", t);

    var node = cluster.client().nodes().withName(cluster.nodeName()).get();
    Map<String, String> labels = node.getMetadata().getLabels();
    assertEquals("installed", labels.get("kataoperator.dev/runtime-state"));
    assertEquals("true", labels.get("kataoperator.dev/kata-qemu"));
    Map<String, String> annotations = node.getMetadata().getAnnotations();
    assertNotNull(annotations.get("kataoperator.dev/virtualization"), annotations.toString());
    assertEquals(INSTALLER_IMAGE, annotations.get("kataoperator.dev/installer-image"));

    var status = kataConfig().getAdditionalProperties().get("status");
    assertTrue(
        String.valueOf(status)
            .contains("virtualization=" + annotations.get("kataoperator.dev/virtualization")),
        "the node's virtualization in the KataConfig's status: " + status);

    for (String name : List.of("kata-qemu", "kata")) {
      RuntimeClass rc = cluster.client().resources(RuntimeClass.class).withName(name).get();
      assertNotNull(rc, "RuntimeClass " + name);
      assertEquals("kata-qemu", rc.getHandler());
      assertEquals(
          Map.of("kataoperator.dev/kata-qemu", "true"), rc.getScheduling().getNodeSelector());
      assertNotNull(rc.getOverhead().getPodFixed().get("memory"), "overhead of " + name);
    }
    // The installer registered the handler in the node's containerd and restarted it.
    String config = Files.readString(Path.of(cluster.containerdConfigPath()));
    assertNotEquals(configBefore, config, "containerd's config names the drop-in now");
    assertTrue(Files.isExecutable(OPT_KATA.resolve("bin/containerd-shim-kata-qemu-v2")));
  }

  // ------------------------------------------------------------------------------- pods

  @Test
  @Order(3)
  void aKataPodRunsInItsOwnVmBesideARuncPod() throws Exception {
    long t = System.nanoTime();
    kubectl("apply", "-f", example("pod.yaml"));
    kubectl("apply", "-f", example("pod-runc.yaml"));
    awaitRunning("kata-pod");
    phase("kata pod Running", t);
    awaitRunning("runc-pod");

    String guestKernel = Files.readString(guestDir().resolve("kernel.release")).strip();
    assertEquals(guestKernel, kubectl("exec", "kata-pod", "--", "uname", "-r").strip());
    String hostKernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
    assertEquals(hostKernel, kubectl("exec", "runc-pod", "--", "uname", "-r").strip());
    String nodeBoot = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
    String kataBoot =
        kubectl("exec", "kata-pod", "--", "cat", "/proc/sys/kernel/random/boot_id").strip();
    assertNotEquals(nodeBoot, kataBoot, "the kata pod has its own kernel");
    assertEquals(
        nodeBoot,
        kubectl("exec", "runc-pod", "--", "cat", "/proc/sys/kernel/random/boot_id").strip());

    assertTrue(kubectl("logs", "kata-pod").contains("started in " + guestKernel));
    // A terminal, as `kubectl exec -it` gives one (kubectl asks for one only when it has one
    // itself: script(1) gives it a pseudo-terminal).
    String line =
        String.join(
            " ",
            Tools.kubectl().toString(),
            "--kubeconfig",
            cluster.kubeconfig().toString(),
            "exec",
            "-it",
            "kata-pod",
            "--",
            "tty");
    String tty = Exec.run(KUBECTL, List.of("script", "-qec", line, "/dev/null")).ok().out();
    assertTrue(tty.contains("/dev/pts/"), "a terminal in the VM: " + tty);
    // The pod's memory limit holds inside the VM, on the container's own cgroup there.
    assertEquals(
        String.valueOf(128L << 20),
        kubectl(
                "exec",
                "kata-pod",
                "--",
                "sh",
                "-c",
                "cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max")
            .strip());
  }

  @Test
  @Order(4)
  void aWebServerInAVmAnswersThroughItsServiceFromARuncPod() throws Exception {
    kubectl("apply", "-f", example("web.yaml"));
    awaitRunning("kata-web");
    String ip =
        cluster
            .client()
            .services()
            .inNamespace("default")
            .withName("kata-web")
            .get()
            .getSpec()
            .getClusterIP();
    String[] answer = new String[1];
    await(
        Duration.ofMinutes(2),
        "the web Service answers",
        () -> {
          try {
            answer[0] =
                kubectlResult(
                        "exec",
                        "runc-pod",
                        "--",
                        "timeout",
                        "5",
                        "wget",
                        "-qO-",
                        "http://" + ip + "/")
                    .out();
            return answer[0].contains("hello from");
          } catch (Exception e) {
            return false;
          }
        });
    assertTrue(
        answer[0].contains(Files.readString(guestDir().resolve("kernel.release")).strip()),
        answer[0]);

    // kubectl port-forward: the API server, kubelet and containerd's CRI, then the shim's
    // listener in the pod's network namespace and the agent in the VM.
    int local;
    try (var free = new java.net.ServerSocket(0)) {
      local = free.getLocalPort();
    }
    Path log = Files.createTempFile("port-forward", ".log");
    Process forward =
        new ProcessBuilder(
                Tools.kubectl().toString(),
                "--kubeconfig",
                cluster.kubeconfig().toString(),
                "port-forward",
                "pod/kata-web",
                local + ":80")
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    try {
      String[] forwarded = {""};
      awaitOrShow(
          log,
          Duration.ofSeconds(30),
          "kubectl port-forward answers",
          () -> {
            try (var s = new java.net.Socket("127.0.0.1", local)) {
              s.setSoTimeout(10_000);
              s.getOutputStream()
                  .write(
                      "GET / HTTP/1.0\r\n\r\n"
                          .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
              forwarded[0] =
                  new String(
                      s.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
              return forwarded[0].contains("hello from");
            } catch (java.io.IOException e) {
              return false;
            }
          });
      assertTrue(forwarded[0].contains("hello from"), forwarded[0] + Files.readString(log));
    } finally {
      forward.destroy();
      forward.waitFor();
      Files.deleteIfExists(log);
    }

    // A 2-core node fits only a few VMs' CPU overhead: make room for the next examples.
    kubectl("delete", "pod", "kata-web", "--wait=true");
  }

  @Test
  @Order(5)
  void theDeploymentAndJobExamplesRun() throws Exception {
    kubectl("apply", "-f", example("deployment.yaml"));
    kubectl("apply", "-f", example("job.yaml"));
    long t = System.nanoTime();
    kubectlLong("rollout", "status", "deployment/kata-deployment", "--timeout=5m");
    phase("kata Deployment available", t);
    kubectlLong("wait", "--for=condition=complete", "job/kata-job", "--timeout=5m");
    assertTrue(kubectl("logs", "job/kata-job").contains("computed in a VM"));
    kubectl("delete", "-f", example("deployment.yaml"), "--wait=true");
    kubectl("delete", "-f", example("job.yaml"), "--wait=true");
  }

  @Test
  @Order(6)
  void anInstallerUpgradeRollsWithoutDisturbingARunningKataPod() throws Exception {
    Pod before = cluster.client().pods().inNamespace("default").withName("kata-pod").get();
    retag(INSTALLER_IMAGE, INSTALLER_IMAGE_B);
    long t = System.nanoTime();
    cluster
        .client()
        .genericKubernetesResources(KATACONFIG)
        .withName("cluster")
        .edit(
            kc -> {
              @SuppressWarnings("unchecked")
              var spec = (Map<String, Object>) kc.getAdditionalProperties().get("spec");
              @SuppressWarnings("unchecked")
              var inst =
                  (Map<String, Object>)
                      spec.computeIfAbsent("installer", k -> new java.util.LinkedHashMap<>());
              inst.put("image", INSTALLER_IMAGE_B);
              return kc;
            });
    await(
        READY_LIMIT,
        "the node reports the new installer image and the KataConfig is Ready",
        () ->
            INSTALLER_IMAGE_B.equals(
                    cluster
                        .client()
                        .nodes()
                        .withName(cluster.nodeName())
                        .get()
                        .getMetadata()
                        .getAnnotations()
                        .get("kataoperator.dev/installer-image"))
                && condition("Ready").equals("True"));
    phase("installer upgrade rolled", t);
    Pod after = cluster.client().pods().inNamespace("default").withName("kata-pod").get();
    assertEquals(before.getMetadata().getUid(), after.getMetadata().getUid());
    assertEquals("Running", after.getStatus().getPhase());
    assertEquals(
        before.getStatus().getContainerStatuses().getFirst().getRestartCount(),
        after.getStatus().getContainerStatuses().getFirst().getRestartCount(),
        "the kata pod's container was not restarted");
    assertEquals("ok", kubectl("exec", "kata-pod", "--", "echo", "ok").strip(), "still answers");
  }

  // ------------------------------------------------------------------------------- uninstall

  @Test
  @Order(7)
  void deletingTheKataConfigWaitsForKataPodsThenUninstallsExactly() throws Exception {
    kubectl("delete", "kataconfig", "cluster", "--wait=false");
    await(
        Duration.ofMinutes(2),
        "deletion waits for the pods that use the RuntimeClasses",
        () -> reason("Progressing").equals("WaitingForPods"));
    assertNotNull(
        cluster.client().resources(RuntimeClass.class).withName("kata").get(), "kept while used");
    long t = System.nanoTime();
    kubectl("delete", "-f", example("pod.yaml"), "--wait=true");
    kubectl("delete", "-f", example("web.yaml"), "--wait=true", "--ignore-not-found");
    await(READY_LIMIT, "the KataConfig is gone", () -> kataConfig() == null);
    phase("uninstall", t);
    assertEquals(
        configBefore,
        Files.readString(Path.of(cluster.containerdConfigPath())),
        "containerd's config is back byte for byte");
    assertFalse(Files.exists(OPT_KATA), OPT_KATA + " is gone");
    assertNull(cluster.client().resources(RuntimeClass.class).withName("kata").get());
    assertNull(cluster.client().resources(RuntimeClass.class).withName("kata-qemu").get());
    Map<String, String> labels =
        cluster.client().nodes().withName(cluster.nodeName()).get().getMetadata().getLabels();
    assertTrue(
        labels.keySet().stream().noneMatch(k -> k.startsWith("kataoperator.dev/")),
        labels.toString());
    // runc pods never noticed.
    assertEquals("ok", kubectl("exec", "runc-pod", "--", "echo", "ok").strip());
  }

  @Test
  @Order(8)
  void helmUninstallLeavesNothingOfTheRelease() throws Exception {
    Exec.run(
            Duration.ofMinutes(5),
            List.of(
                HELM.toString(),
                "--kubeconfig",
                cluster.kubeconfig().toString(),
                "uninstall",
                "kata-operator",
                "--namespace",
                RELEASE_NAMESPACE,
                "--wait",
                "--timeout",
                "4m"))
        .ok();
    var client = cluster.client();
    assertTrue(
        client.apps().deployments().inNamespace(RELEASE_NAMESPACE).list().getItems().isEmpty());
    assertTrue(
        client
            .apps()
            .daemonSets()
            .inAnyNamespace()
            .withLabel("app.kubernetes.io/managed-by", "kata-operator")
            .list()
            .getItems()
            .isEmpty(),
        "the installer DaemonSet is gone");
    assertTrue(
        client.rbac().clusterRoles().list().getItems().stream()
            .noneMatch(r -> r.getMetadata().getName().startsWith("kata-operator")));
    assertTrue(
        client.rbac().clusterRoleBindings().list().getItems().stream()
            .noneMatch(r -> r.getMetadata().getName().startsWith("kata-operator")));
    kubectl("delete", "-f", example("pod-runc.yaml"), "--wait=true");
  }

  // ------------------------------------------------------------------------------- helpers

  private static Path guestDir() {
    return Path.of(
        System.getenv()
            .getOrDefault("KATA_GUEST_DIR", Tools.repoRoot().resolve("build/guest").toString()));
  }

  private static String example(String name) {
    return Tools.repoRoot().resolve("examples").resolve(name).toString();
  }

  private String kubectl(String... args) throws Exception {
    return kubectlResult(args).ok().out();
  }

  private Exec kubectlResult(String... args) throws Exception {
    return cluster.kubectl(KUBECTL, args);
  }

  private GenericKubernetesResource kataConfig() {
    return cluster.client().genericKubernetesResources(KATACONFIG).withName("cluster").get();
  }

  @SuppressWarnings("unchecked")
  private Map<String, Object> conditionOf(String type) {
    GenericKubernetesResource kc = kataConfig();
    if (kc == null || !(kc.getAdditionalProperties().get("status") instanceof Map<?, ?> status)) {
      return Map.of();
    }
    Object conditions = status.get("conditions");
    if (!(conditions instanceof List<?> list)) {
      return Map.of();
    }
    return list.stream()
        .map(c -> (Map<String, Object>) c)
        .filter(c -> type.equals(c.get("type")))
        .findFirst()
        .orElse(Map.of());
  }

  private String condition(String type) {
    return String.valueOf(conditionOf(type).getOrDefault("status", ""));
  }

  private String reason(String type) {
    return String.valueOf(conditionOf(type).getOrDefault("reason", ""));
  }

  private void awaitRunning(String pod) throws Exception {
    kubectlLong(
        "wait", "--for=condition=Ready", "pod/" + pod, "--timeout=" + POD_LIMIT.toSeconds() + "s");
  }

  /** kubectl for commands that wait themselves (their --timeout is the bound), with room. */
  private String kubectlLong(String... args) throws Exception {
    Exec r = cluster.kubectl(Duration.ofMinutes(6), args);
    if (r.exit() != 0) {
      throw new AssertionError(
          "kubectl "
              + String.join(" ", args)
              + " failed: "
              + r.err()
              + "\n"
              + kubectlResult("get", "pods", "-o", "wide").out()
              + kubectlResult("get", "events", "--sort-by=.lastTimestamp").out());
    }
    return r.out();
  }

  private void retag(String from, String to) throws Exception {
    cluster.tagImage(from, to);
  }

  /** {@link #await}, with {@code log}'s content in the failure. */
  private void awaitOrShow(Path log, Duration limit, String what, BooleanSupplier done)
      throws Exception {
    try {
      await(limit, what, done);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "\n" + Files.readString(log), e);
    }
  }

  private void await(Duration limit, String what, BooleanSupplier done) throws Exception {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            what
                + ": not after "
                + limit.toSeconds()
                + " s; KataConfig: "
                + kataConfig()
                + "\ninstaller pods:\n"
                + kubectlResult(
                        "-n",
                        RELEASE_NAMESPACE,
                        "logs",
                        "-l",
                        "app.kubernetes.io/name=runtime-node-installer",
                        "--tail=40")
                    .out());
      }
      Thread.sleep(2000);
    }
  }
}
