package dev.kataoperator.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator image: OCI config, and the image itself run by containerd with runc against a real
 * kube-apiserver (fabric8 kube-api-test, offline), as the operator's ServiceAccount with exactly
 * operator/src/main/kubernetes/rbac.yaml and the chart's security settings: it becomes ready and
 * rolls out the installer DaemonSet with the installer image of its own version.
 */
@Tag("containerd")
class OperatorImageTest {
  static final String KUBE = System.getProperty("kata.kube.version", "1.35.4");
  static final String NAMESPACE = "kata-operator-system";

  @Test
  void configFollowsOciConventions() throws Exception {
    Path archive = Images.operator();
    JsonNode c = Images.config(archive).path("config");
    assertEquals("65532:65532", c.path("User").asText(), "non-root");
    List<?> entrypoint = Images.JSON.convertValue(c.path("Entrypoint"), List.class);
    assertEquals("/opt/java/bin/java", entrypoint.getFirst());
    assertEquals(
        List.of("-jar", "/app/quarkus-run.jar"),
        entrypoint.subList(entrypoint.size() - 2, entrypoint.size()));
    assertTrue(c.path("ExposedPorts").has("8080/tcp"));
    assertEquals(Images.VERSION, c.at("/Labels/org.opencontainers.image.version").asText());
    assertEquals("kata-operator", c.at("/Labels/org.opencontainers.image.title").asText());
    System.out.printf(
        "operator image: %d MB archive, %d MB unpacked%n",
        Files.size(archive) >> 20, Images.unpackedSize(archive) >> 20);
  }

  /** Without a cluster it gets as far as asking the API server, and says so. */
  @Test
  void startsOnContainerd22WithoutACluster(@TempDir Path dir) throws Exception {
    Path archive = Images.operator();
    try (var containerd = Containerd.start(Containerd.Version.V2_2, dir.resolve("containerd"))) {
      containerd.ctr("image", "import", archive.toString()).ok();
      Path log = dir.resolve("operator.log");
      containerd
          .ctr(
              "run",
              "-d",
              "--log-uri",
              "file://" + log,
              "--env",
              "QUARKUS_PROFILE=no-leader-election",
              Images.OPERATOR,
              "operator-alone")
          .ok();
      try {
        String out =
            awaitLog(log, s -> s.contains("kubernetes.default.svc"), Duration.ofSeconds(180));
        assertTrue(out.contains("Quarkus Java Operator SDK extension"), out);
        assertTrue(out.contains("Registered reconciler: 'kataconfig'"), out);
        assertTrue(
            out.contains("Leader election deactivated"), "the chart's switch works:\n" + out);
      } finally {
        containerd.remove("operator-alone");
      }
    }
  }

  @Test
  void reconcilesOnARealApiServerOnContainerd16(@TempDir Path dir) throws Exception {
    Path archive = Images.operator();
    var server =
        new KubeAPIServer(
            KubeAPIServerConfigBuilder.anAPIServerConfig()
                .withApiServerVersion(KUBE)
                .withOfflineMode(true)
                .withUpdateKubeConfig(false)
                .withStartupTimeout(180_000)
                .build());
    server.start();
    try (var containerd = Containerd.start(Containerd.Version.V1_6, dir.resolve("containerd"))) {
      Path admin = dir.resolve("admin.kubeconfig");
      Files.writeString(admin, server.getKubeConfigYaml());
      kubectl(admin, "apply", "-f", Images.REPO.resolve("crds").toString());
      kubectl(admin, "create", "namespace", NAMESPACE);
      kubectl(
          admin,
          "apply",
          "-f",
          Images.REPO.resolve("operator/src/main/kubernetes/rbac.yaml").toString());
      kubectl(
          admin,
          "wait",
          "--for=condition=established",
          "--timeout=120s",
          "crd/kataconfigs.kataoperator.dev");
      // The operator's own kubeconfig: its ServiceAccount's token, its namespace.
      String token =
          kubectl(admin, "-n", NAMESPACE, "create", "token", "kata-operator", "--duration=2h")
              .strip();
      // Certificates inline: the admin kubeconfig names files that are not in the container.
      Path kc = dir.resolve("operator.kubeconfig");
      Files.writeString(kc, kubectl(admin, "config", "view", "--raw", "--flatten", "--minify"));
      kubectl(kc, "config", "set-credentials", "kata-operator", "--token=" + token);
      kubectl(
          kc,
          "config",
          "set-context",
          "--current",
          "--user=kata-operator",
          "--namespace=" + NAMESPACE);
      Files.setPosixFilePermissions(kc, PosixFilePermissions.fromString("rw-r--r--"));

      containerd.ctr("image", "import", archive.toString()).ok();
      int port;
      try (var s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      Path log = dir.resolve("operator.log");
      List<String> run =
          new ArrayList<>(
              List.of(
                  "run",
                  "-d",
                  "--net-host",
                  "--log-uri",
                  "file://" + log,
                  "--mount",
                  "type=bind,src=" + kc + ",dst=/etc/kata-operator/kubeconfig,options=rbind:ro",
                  // What the chart's securityContext asks for: a read-only root file system with
                  // a writable /tmp, no capabilities, the default seccomp profile.
                  "--read-only",
                  "--seccomp",
                  "--mount",
                  "type=tmpfs,src=tmpfs,dst=/tmp,options=nosuid:nodev:mode=1777",
                  "--env",
                  "KUBECONFIG=/etc/kata-operator/kubeconfig",
                  "--env",
                  "QUARKUS_HTTP_PORT=" + port));
      // containerd's default set; ctr has no "ALL".
      for (String cap :
          List.of(
              "CHOWN",
              "DAC_OVERRIDE",
              "FSETID",
              "FOWNER",
              "MKNOD",
              "NET_RAW",
              "SETGID",
              "SETUID",
              "SETFCAP",
              "SETPCAP",
              "NET_BIND_SERVICE",
              "SYS_CHROOT",
              "KILL",
              "AUDIT_WRITE")) {
        run.addAll(List.of("--cap-drop", "CAP_" + cap));
      }
      run.addAll(List.of(Images.OPERATOR, "operator-it"));
      containerd.ctr(run.toArray(String[]::new)).ok();
      try {
        awaitReady(port, log);
        kubectl(
            admin, "apply", "-f", Images.REPO.resolve("examples/kataconfig-tcg.yaml").toString());
        String image = "";
        long deadline = System.nanoTime() + Duration.ofSeconds(180).toNanos();
        while (!image.equals(Images.INSTALLER) && System.nanoTime() < deadline) {
          Thread.sleep(1000);
          var r =
              kubectlRaw(
                  admin,
                  "-n",
                  NAMESPACE,
                  "get",
                  "daemonset",
                  "runtime-node-installer",
                  "-o",
                  "jsonpath={.spec.template.spec.containers[0].image}");
          image = r.exit() == 0 ? r.out().strip() : "";
        }
        assertEquals(
            Images.INSTALLER,
            image,
            "the installer DaemonSet runs the image of the operator's version\n" + tail(log));
      } finally {
        containerd.remove("operator-it");
      }
    } finally {
      server.stop();
    }
  }

  private static void awaitReady(int port, Path log) throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    var request =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready"))
            .timeout(Duration.ofSeconds(10))
            .build();
    long deadline = System.nanoTime() + Duration.ofSeconds(240).toNanos();
    String last = "";
    while (System.nanoTime() < deadline) {
      try {
        var r = http.send(request, HttpResponse.BodyHandlers.ofString());
        last = r.statusCode() + " " + r.body();
        if (r.statusCode() == 200) {
          assertTrue(r.body().contains("\"UP\""), r.body());
          return;
        }
      } catch (java.io.IOException e) {
        last = e.toString();
      }
      Thread.sleep(1000);
    }
    throw new AssertionError("not ready in 240 s (" + last + "):\n" + tail(log));
  }

  private static String awaitLog(Path log, Predicate<String> done, Duration timeout)
      throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    String s = "";
    while (System.nanoTime() < deadline) {
      s = Files.exists(log) ? Files.readString(log) : "";
      if (done.test(s)) {
        return s;
      }
      Thread.sleep(500);
    }
    throw new AssertionError("not in the log after " + timeout + ":\n" + s);
  }

  /** The last log messages (the JSON log's "message" fields, stack traces left out). */
  private static String tail(Path log) {
    try {
      List<String> messages = new ArrayList<>();
      var m =
          java.util.regex.Pattern.compile("\"message\":\"((?:[^\"\\\\]|\\\\.){0,300})")
              .matcher(Files.readString(log));
      while (m.find()) {
        messages.add(m.group(1));
      }
      return String.join(
          "\n", messages.subList(Math.max(0, messages.size() - 25), messages.size()));
    } catch (java.io.IOException e) {
      return "(no log)";
    }
  }

  private static String kubectl(Path kubeconfig, String... args) throws Exception {
    return kubectlRaw(kubeconfig, args).ok().out();
  }

  private static Containerd.Result kubectlRaw(Path kubeconfig, String... args) throws Exception {
    String dir =
        System.getenv()
            .getOrDefault("KUBE_API_TEST_DIR", System.getProperty("user.home") + "/.kubeapitest");
    List<String> cmd =
        new ArrayList<>(
            List.of(
                Path.of(dir, "k8s", KUBE + "-linux-amd64", "kubectl").toString(),
                "--kubeconfig",
                kubeconfig.toString()));
    cmd.addAll(List.of(args));
    return Containerd.run(cmd, 120);
  }
}
