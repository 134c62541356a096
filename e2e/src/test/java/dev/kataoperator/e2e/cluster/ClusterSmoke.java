package dev.kataoperator.e2e.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * What every {@link Cluster} must do for the end-to-end tests, in order: a Ready node, a runc pod
 * from an imported image with its logs and exec through the API, a Service reaching a pod from
 * another pod (kube-proxy), an image imported into the node's containerd, and containerd restarted
 * by its restart command from a privileged hostPID pod, as the node installer will do it, with the
 * running pods surviving. Subclasses bring the cluster up before the first test.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
abstract class ClusterSmoke {
  static final String NAMESPACE = "kata-smoke";
  static final String BUSYBOX = "docker.io/library/busybox:latest";
  static final String IMPORTED = "localhost/kata-e2e/imported:1";
  // Generous: two cores shared with compilers and VMs; a pod start is seconds when idle.
  static final long POD_MINUTES = 3;
  static final Duration KUBECTL_LIMIT = Duration.ofSeconds(60);

  abstract Cluster cluster();

  KubernetesClient client() {
    return cluster().client();
  }

  @Test
  @Order(1)
  void nodeIsReady() throws Exception {
    var node = client().nodes().withName(cluster().nodeName()).get();
    assertNotNull(node, "no node " + cluster().nodeName());
    String ready =
        node.getStatus().getConditions().stream()
            .filter(c -> c.getType().equals("Ready"))
            .map(c -> c.getStatus())
            .findFirst()
            .orElse("missing");
    assertEquals("True", ready, "node Ready condition");
    String out = cluster().kubectl(KUBECTL_LIMIT, "get", "nodes", "-o", "name").ok().out();
    assertEquals("node/" + cluster().nodeName(), out.strip());
  }

  @Test
  @Order(2)
  void aRuncPodRunsAndItsLogsAreReadable() throws Exception {
    client()
        .namespaces()
        .resource(
            new NamespaceBuilder().withNewMetadata().withName(NAMESPACE).endMetadata().build())
        .serverSideApply();
    // Pods need the namespace's default service account, which a controller creates.
    client()
        .serviceAccounts()
        .inNamespace(NAMESPACE)
        .withName("default")
        .waitUntilCondition(Objects::nonNull, 2, TimeUnit.MINUTES);
    startPod(
        busybox("web", BUSYBOX)
            .editSpec()
            .editFirstContainer()
            .withCommand(
                "sh",
                "-c",
                "echo web-started; mkdir -p /www; echo served-by-$(hostname) > /www/index.html;"
                    + " exec httpd -f -p 8080 -h /www")
            .endContainer()
            .endSpec()
            .build());
    poll(
        "web's log through the API",
        Duration.ofSeconds(60),
        () -> {
          try {
            return cluster().kubectl(KUBECTL_LIMIT, "-n", NAMESPACE, "logs", "web").out();
          } catch (Exception e) {
            return e.toString();
          }
        },
        log -> log.contains("web-started"));
  }

  @Test
  @Order(3)
  void kubectlExecRunsInThePod() throws Exception {
    startPod(busybox("client", BUSYBOX).build());
    String out =
        cluster()
            .kubectl(
                KUBECTL_LIMIT,
                "-n",
                NAMESPACE,
                "exec",
                "client",
                "--",
                "sh",
                "-c",
                "hostname; id -u")
            .ok()
            .out();
    assertEquals("client\n0\n", out);
  }

  @Test
  @Order(4)
  void aServiceReachesAPodFromAnotherPod() throws Exception {
    var svc =
        client()
            .services()
            .inNamespace(NAMESPACE)
            .resource(
                new ServiceBuilder()
                    .withNewMetadata()
                    .withName("web")
                    .endMetadata()
                    .withNewSpec()
                    .withSelector(Map.of("app", "web"))
                    .addNewPort()
                    .withPort(80)
                    .withTargetPort(new IntOrString(8080))
                    .endPort()
                    .endSpec()
                    .build())
            .create();
    String ip = svc.getSpec().getClusterIP();
    String podIp =
        client().pods().inNamespace(NAMESPACE).withName("web").get().getStatus().getPodIP();
    assertNotEquals(podIp, ip, "the service has its own virtual IP");
    // kube-proxy writes the rules once it has seen the EndpointSlice: retry until then.
    poll(
        "GET http://" + ip + "/ from pod client",
        Duration.ofSeconds(120),
        () -> {
          try {
            var r =
                cluster()
                    .kubectl(
                        KUBECTL_LIMIT,
                        "-n",
                        NAMESPACE,
                        "exec",
                        "client",
                        "--",
                        // busybox's own wget -T crashes (1.35 here): bound it with timeout
                        "timeout",
                        "10",
                        "wget",
                        "-q",
                        "-O",
                        "-",
                        "http://" + ip + "/");
            return r.out() + r.err();
          } catch (Exception e) {
            return e.toString();
          }
        },
        out -> out.strip().equals("served-by-web"));
  }

  @Test
  @Order(5)
  void anImportedImageRuns() throws Exception {
    // The locally built busybox under another name, so only the import can have brought it.
    Path busyboxOci = Tools.repoRoot().resolve("build/images/busybox-oci");
    Path archive = Files.createTempFile("kata-e2e-import-", ".tar");
    try {
      Files.delete(archive);
      Exec.run(
              Duration.ofMinutes(2),
              List.of(
                  "skopeo",
                  "copy",
                  "--quiet",
                  "oci:" + busyboxOci + ":latest",
                  "docker-archive:" + archive + ":" + IMPORTED))
          .ok();
      cluster().importImage(archive);
    } finally {
      Files.deleteIfExists(archive);
    }
    startPod(busybox("imported", IMPORTED).build());
    String out =
        cluster()
            .kubectl(KUBECTL_LIMIT, "-n", NAMESPACE, "exec", "imported", "--", "echo", "ok")
            .ok()
            .out();
    assertEquals("ok\n", out);
  }

  @Test
  @Order(6)
  void theRestartCommandRestartsContainerdFromAHostPidPodAndPodsSurvive() throws Exception {
    var command = cluster().containerdRestartCommand();
    if (command.isEmpty()) {
      return; // k3s: containerd restarts with k3s only (K3sCluster says why)
    }
    ContainerStatus before = containerStatus("client");
    String target = Long.toString(cluster().hostNamespacesPid());
    var nsenter =
        new ArrayList<>(List.of("nsenter", "-t", target, "-m", "-u", "-i", "-n", "-p", "--"));
    nsenter.addAll(command.get());
    Pod restarter =
        busybox("restarter", BUSYBOX)
            .editSpec()
            .withHostPID(true)
            .withRestartPolicy("Never")
            .editFirstContainer()
            .withCommand(nsenter)
            .withNewSecurityContext()
            .withPrivileged(true)
            .endSecurityContext()
            .endContainer()
            .endSpec()
            .build();
    client().pods().inNamespace(NAMESPACE).resource(restarter).create();
    Pod done =
        client()
            .pods()
            .inNamespace(NAMESPACE)
            .withName("restarter")
            .waitUntilCondition(
                p -> p != null && List.of("Succeeded", "Failed").contains(p.getStatus().getPhase()),
                POD_MINUTES,
                TimeUnit.MINUTES);
    String log = client().pods().inNamespace(NAMESPACE).withName("restarter").getLog();
    assertEquals(
        "Succeeded", done.getStatus().getPhase(), "restart command's pod; its log:\n" + log);
    assertTrue(log.contains("containerd restarted (pid "), log);

    // The pod started before the restart runs on, the same container, still reachable by exec.
    ContainerStatus after = containerStatus("client");
    assertEquals(before.getContainerID(), after.getContainerID());
    assertEquals(0, after.getRestartCount());
    String out =
        cluster()
            .kubectl(KUBECTL_LIMIT, "-n", NAMESPACE, "exec", "client", "--", "echo", "alive")
            .ok()
            .out();
    assertEquals("alive\n", out);
    nodeIsReady();
  }

  PodBuilder busybox(String name, String image) {
    return new PodBuilder()
        .withNewMetadata()
        .withName(name)
        .withNamespace(NAMESPACE)
        .withLabels(Map.of("app", name))
        .endMetadata()
        .withNewSpec()
        .withTerminationGracePeriodSeconds(1L)
        .addNewContainer()
        .withName("main")
        .withImage(image)
        .withImagePullPolicy("IfNotPresent") // nothing can be pulled here
        .withCommand("sleep", "3600")
        .endContainer()
        .endSpec();
  }

  void startPod(Pod pod) {
    String name = pod.getMetadata().getName();
    client().pods().inNamespace(NAMESPACE).resource(pod).create();
    try {
      client()
          .pods()
          .inNamespace(NAMESPACE)
          .withName(name)
          .waitUntilReady(POD_MINUTES, TimeUnit.MINUTES);
    } catch (RuntimeException e) {
      var p = client().pods().inNamespace(NAMESPACE).withName(name).get();
      throw new AssertionError(
          "pod " + name + " not ready: " + (p == null ? "gone" : p.getStatus()), e);
    }
  }

  ContainerStatus containerStatus(String pod) {
    return client()
        .pods()
        .inNamespace(NAMESPACE)
        .withName(pod)
        .get()
        .getStatus()
        .getContainerStatuses()
        .getFirst();
  }

  /** Calls {@code probe} until {@code ok} accepts its value; fails with the last value. */
  static String poll(String what, Duration limit, Supplier<String> probe, Predicate<String> ok)
      throws InterruptedException {
    long deadline = System.nanoTime() + limit.toNanos();
    String last = probe.get();
    while (!ok.test(last)) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            what + ": not as expected after " + limit.toSeconds() + " s; last: " + last);
      }
      Thread.sleep(1000);
      last = probe.get();
    }
    return last;
  }
}
