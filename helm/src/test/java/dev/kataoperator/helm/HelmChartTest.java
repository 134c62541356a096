package dev.kataoperator.helm;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** helm lint and helm template of helm/kata-operator, with the rendered YAML checked. */
@Tag("tools")
class HelmChartTest {
  static final String VERSION = System.getProperty("kata.project.version");

  @Test
  void lintPasses() throws Exception {
    var r = Helm.run(List.of("lint", "--strict", Helm.CHART.toString())).ok();
    assertTrue(r.out().contains("0 chart(s) failed"), r.out());
  }

  @Test
  void chartVersionFollowsTheProject() throws Exception {
    JsonNode chart = Helm.YAML.readTree(Helm.CHART.resolve("Chart.yaml").toFile());
    assertEquals(VERSION, chart.path("version").asText());
    assertEquals(VERSION, chart.path("appVersion").asText());
  }

  @Test
  void crdIsTheGeneratedOne() throws Exception {
    Path crds = Path.of(System.getProperty("kata.crds.dir"));
    try (Stream<Path> files = Files.list(crds)) {
      List<Path> expected = files.sorted().toList();
      try (Stream<Path> chart = Files.list(Helm.CHART.resolve("crds"))) {
        assertEquals(
            expected.stream().map(Path::getFileName).toList(),
            chart.sorted().map(Path::getFileName).toList(),
            "the chart's crds/ must hold exactly the files of crds/");
      }
      for (Path p : expected) {
        assertArrayEquals(
            Files.readAllBytes(p),
            Files.readAllBytes(Helm.CHART.resolve("crds").resolve(p.getFileName())),
            p.getFileName()
                + " differs from the chart's copy; run ./mvnw -pl operator -Pupdate-crds"
                + " process-classes");
      }
    }
  }

  @Test
  void rbacIsExactlyTheOperatorsTestedRbac() throws Exception {
    Map<String, JsonNode> tested = new TreeMap<>();
    for (JsonNode d : Helm.parse(Files.readString(Path.of(System.getProperty("kata.rbac.file"))))) {
      tested.put(d.path("kind").asText(), d);
    }
    List<JsonNode> docs = Helm.template();
    for (String kind : List.of("ClusterRole", "Role")) {
      assertEquals(
          tested.get(kind).path("rules"),
          Helm.only(docs, kind).path("rules"),
          kind + " rules differ from operator/src/main/kubernetes/rbac.yaml");
    }
    for (String kind : List.of("ClusterRoleBinding", "RoleBinding")) {
      JsonNode b = Helm.only(docs, kind);
      assertEquals(tested.get(kind).path("roleRef"), b.path("roleRef"), kind);
      JsonNode subject = b.path("subjects").get(0);
      assertEquals(1, b.path("subjects").size(), kind);
      assertEquals("ServiceAccount", subject.path("kind").asText());
      assertEquals("kata-operator", subject.path("name").asText());
      assertEquals(Helm.NAMESPACE, subject.path("namespace").asText(), "the release namespace");
    }
    assertEquals(
        Helm.NAMESPACE, Helm.only(docs, "Role").path("metadata").path("namespace").asText());
    assertEquals(
        "kata-operator",
        Helm.only(docs, "Deployment").at("/spec/template/spec/serviceAccountName").asText());
  }

  @Test
  void defaultsRenderTheOperatorOnly() throws Exception {
    List<JsonNode> docs = Helm.template();
    assertEquals(
        List.of(
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Role",
            "RoleBinding",
            "ServiceAccount"),
        docs.stream().map(d -> d.path("kind").asText()).sorted().toList(),
        "no KataConfig and no Service unless asked for");
    JsonNode c = container(docs);
    assertEquals("localhost/kata-operator/operator:" + VERSION, c.path("image").asText());
    assertEquals("IfNotPresent", c.path("imagePullPolicy").asText());
    assertEquals(
        "localhost/kata-operator/runtime-node-installer:" + VERSION,
        env(c, "KATA_OPERATOR_DEFAULT_INSTALLER_IMAGE"));
    assertEquals("INFO", env(c, "QUARKUS_LOG_CATEGORY__DEV_KATAOPERATOR__LEVEL"));
    assertEquals(null, env(c, "QUARKUS_PROFILE"), "leader election on: the default profile");
    assertTrue(
        Helm.only(docs, "Deployment").at("/spec/strategy").isMissingNode(), "rolling update");
  }

  @Test
  void deploymentIsLockedDown() throws Exception {
    JsonNode pod = Helm.only(Helm.template(), "Deployment").at("/spec/template/spec");
    JsonNode c = pod.path("containers").get(0);
    assertAll(
        () -> assertTrue(pod.at("/securityContext/runAsNonRoot").asBoolean()),
        () -> assertEquals(65532, pod.at("/securityContext/runAsUser").asInt()),
        () ->
            assertEquals("RuntimeDefault", pod.at("/securityContext/seccompProfile/type").asText()),
        () -> assertFalse(c.at("/securityContext/allowPrivilegeEscalation").asBoolean(true)),
        () -> assertTrue(c.at("/securityContext/readOnlyRootFilesystem").asBoolean()),
        () -> assertEquals("ALL", c.at("/securityContext/capabilities/drop/0").asText()),
        () -> assertTrue(c.at("/securityContext/privileged").isMissingNode()),
        () -> assertEquals("/tmp", c.at("/volumeMounts/0/mountPath").asText()),
        () -> assertEquals(8080, c.at("/ports/0/containerPort").asInt()),
        () -> assertEquals("/q/health/live", c.at("/livenessProbe/httpGet/path").asText()),
        () -> assertEquals("/q/health/ready", c.at("/readinessProbe/httpGet/path").asText()),
        () -> assertEquals("/q/health/started", c.at("/startupProbe/httpGet/path").asText()),
        () -> assertEquals("http", c.at("/livenessProbe/httpGet/port").asText()),
        () -> assertEquals("256Mi", c.at("/resources/requests/memory").asText()));
  }

  @Test
  void valuesReachTheDeployment() throws Exception {
    List<JsonNode> docs =
        Helm.template(
            "image.repository=registry.example/kata/operator",
            "image.tag=1.2.3",
            "image.pullPolicy=Always",
            "installer.image.repository=registry.example/kata/installer",
            "installer.image.tag=1.2.4",
            "logLevel=debug",
            "leaderElection.enabled=false",
            "resources.limits.memory=1Gi",
            "nodeSelector.node-role\\.kubernetes\\.io/control-plane=",
            "tolerations[0].key=node-role.kubernetes.io/control-plane",
            "tolerations[0].operator=Exists",
            "tolerations[0].effect=NoSchedule",
            "jvmOptions=-XX:MaxRAMPercentage=60",
            "metrics.service.enabled=true");
    JsonNode d = Helm.only(docs, "Deployment");
    JsonNode pod = d.at("/spec/template/spec");
    JsonNode c = container(docs);
    assertAll(
        () -> assertEquals("registry.example/kata/operator:1.2.3", c.path("image").asText()),
        () -> assertEquals("Always", c.path("imagePullPolicy").asText()),
        () ->
            assertEquals(
                "registry.example/kata/installer:1.2.4",
                env(c, "KATA_OPERATOR_DEFAULT_INSTALLER_IMAGE")),
        () -> assertEquals("DEBUG", env(c, "QUARKUS_LOG_CATEGORY__DEV_KATAOPERATOR__LEVEL")),
        () -> assertEquals("no-leader-election", env(c, "QUARKUS_PROFILE")),
        () -> assertEquals("Recreate", d.at("/spec/strategy/type").asText()),
        () -> assertEquals("-XX:MaxRAMPercentage=60", env(c, "JAVA_TOOL_OPTIONS")),
        () -> assertEquals("1Gi", c.at("/resources/limits/memory").asText()),
        () -> assertTrue(pod.path("nodeSelector").has("node-role.kubernetes.io/control-plane")),
        () -> assertEquals("Exists", pod.at("/tolerations/0/operator").asText()),
        () ->
            assertEquals(
                8080, Helm.only(docs, "Service").at("/spec/ports/0/port").asInt(), "metrics"));
  }

  static Stream<Arguments> badValues() {
    return Stream.of(
        Arguments.of("image.pullPolicy=Sometimes", "at '/image/pullPolicy': value must be one of"),
        Arguments.of("logLevel=verbose", "at '/logLevel': value must be one of"),
        Arguments.of("imagePolicy=Always", "additional properties 'imagePolicy' not allowed"),
        Arguments.of("image.tag=a tag", "at '/image/tag'"),
        Arguments.of("replicas=-1", "at '/replicas'"),
        Arguments.of("leaderElection.enabled=maybe", "at '/leaderElection/enabled'"),
        Arguments.of(
            "kataConfig.virtualization=Sometimes", "at '/kataConfig/virtualization': value must"),
        Arguments.of("kataConfig.logLevel=trace", "at '/kataConfig/logLevel'"),
        Arguments.of("kataConfig.containerd.flavor=docker", "at '/kataConfig/containerd/flavor'"),
        Arguments.of(
            "kataConfig.rollout.maxUnavailable=0", "at '/kataConfig/rollout/maxUnavailable'"),
        Arguments.of(
            "kataConfig.runtimeClasses[0].name=Kata_QEMU",
            "at '/kataConfig/runtimeClasses/0/name'"),
        Arguments.of(
            "kataConfig.runtimeClasses[0].hypervisor=xen",
            "at '/kataConfig/runtimeClasses/0/hypervisor'"),
        Arguments.of(
            "kataConfig.nodeSelect.x=y", "additional properties 'nodeSelect' not allowed"));
  }

  @ParameterizedTest
  @MethodSource("badValues")
  void schemaRejectsBadValues(String set, String message) throws Exception {
    var r = Helm.templateRaw(set);
    assertNotEquals(0, r.exit(), set + " was accepted");
    assertTrue(r.err().contains("values don't meet the specifications"), r.err());
    assertTrue(r.err().contains(message), "expected '" + message + "' in:\n" + r.err());
  }

  @Test
  void severalReplicasNeedLeaderElection() throws Exception {
    var r = Helm.templateRaw("replicas=2", "leaderElection.enabled=false");
    assertNotEquals(0, r.exit());
    assertTrue(r.err().contains("replicas above 1 need leaderElection.enabled"), r.err());
    assertEquals(
        2, Helm.only(Helm.template("replicas=2"), "Deployment").at("/spec/replicas").asInt());
  }

  static Stream<Arguments> inconsistentKataConfigs() {
    return Stream.of(
        Arguments.of(
            List.of("kataConfig.containerd.configPath=/etc/containerd/config.toml"),
            "configPath and restartMethod apply only with flavor containerd, k3s or rke2"),
        Arguments.of(
            List.of(
                "kataConfig.containerd.flavor=k3s", "kataConfig.containerd.restartMethod=command"),
            "restartMethod command needs restartCommand"),
        Arguments.of(
            List.of(
                "kataConfig.containerd.flavor=containerd",
                "kataConfig.containerd.restartCommand[0]=/bin/true"),
            "restartCommand is used only with restartMethod command"),
        Arguments.of(List.of("kataConfig.runtimeClasses[0].name=kata"), "\"kata\" is reserved"),
        Arguments.of(
            List.of(
                "kataConfig.runtimeClasses[0].name=kata-qemu",
                "kataConfig.runtimeClasses[1].name=kata-qemu"),
            "\"kata-qemu\" is listed twice"),
        Arguments.of(
            List.of(
                "kataConfig.runtimeClasses[0].name=a",
                "kataConfig.runtimeClasses[0].default=true",
                "kataConfig.runtimeClasses[1].name=b",
                "kataConfig.runtimeClasses[1].default=true"),
            "at most one class may be the default, got a, b"),
        Arguments.of(
            List.of(
                "kataConfig.runtimeClasses[0].name=fc",
                "kataConfig.runtimeClasses[0].hypervisor=firecracker",
                "kataConfig.runtimeClasses[0].default=true"),
            "the default class \"fc\" must use hypervisor qemu"));
  }

  @ParameterizedTest
  @MethodSource("inconsistentKataConfigs")
  void crossFieldRulesFailWithOneSentence(List<String> sets, String message) throws Exception {
    List<String> all = new ArrayList<>(sets);
    all.add("kataConfig.create=true");
    var r = Helm.templateRaw(all.toArray(String[]::new));
    assertNotEquals(0, r.exit(), sets + " was accepted");
    assertTrue(r.err().contains(message), "expected '" + message + "' in:\n" + r.err());
  }

  @Test
  void kataConfigMapsValuesToTheSpec() throws Exception {
    List<JsonNode> docs = Helm.template(kataDeployLikeValues());
    JsonNode kc = Helm.only(docs, "KataConfig");
    JsonNode spec = kc.path("spec");
    assertAll(
        () -> assertEquals("kataoperator.dev/v1alpha1", kc.path("apiVersion").asText()),
        () -> assertEquals("sandbox", kc.at("/metadata/name").asText()),
        () -> assertTrue(kc.at("/metadata/namespace").isMissingNode(), "cluster-scoped"),
        () ->
            assertEquals("keep", kc.at("/metadata/annotations/helm.sh~1resource-policy").asText()),
        () -> assertEquals("enabled", spec.at("/nodeSelector/matchLabels/kata").asText()),
        () -> assertEquals("sandbox", spec.at("/tolerations/0/key").asText()),
        () -> assertEquals("kata-qemu", spec.at("/runtimeClasses/0/name").asText()),
        () -> assertTrue(spec.at("/runtimeClasses/0/default").asBoolean()),
        () -> assertEquals("500m", spec.at("/runtimeClasses/0/overhead/cpu").asText()),
        () -> assertEquals("AllowSoftwareEmulation", spec.path("virtualization").asText()),
        () -> assertEquals("debug", spec.path("logLevel").asText()),
        () -> assertEquals("k3s", spec.at("/containerd/flavor").asText()),
        () -> assertEquals("command", spec.at("/containerd/restartMethod").asText()),
        () -> assertEquals("k3s-restart", spec.at("/containerd/restartCommand/1").asText()),
        () -> assertEquals("25%", spec.at("/rollout/maxUnavailable").asText()),
        () -> assertTrue(spec.at("/uninstall/force").asBoolean()));
    assertKnownToTheCrd(spec);
  }

  @Test
  void defaultKataConfigLeavesDefaultsToTheCrd() throws Exception {
    JsonNode spec = Helm.only(Helm.template("kataConfig.create=true"), "KataConfig").path("spec");
    assertTrue(spec.path("runtimeClasses").isMissingNode(), "the CRD's default classes");
    assertTrue(spec.path("nodeSelector").isMissingNode(), "every Linux node");
    assertEquals("RequireHardware", spec.path("virtualization").asText());
    assertEquals("auto", spec.at("/containerd/flavor").asText());
    assertEquals(Set.of("flavor"), fieldNames(spec.path("containerd")));
    assertEquals(1, spec.at("/rollout/maxUnavailable").asInt());
    assertKnownToTheCrd(spec);
  }

  /** Values a kata-deploy user would set, in this chart's terms (docs/helm.md maps them). */
  static String[] kataDeployLikeValues() {
    return new String[] {
      "kataConfig.create=true",
      "kataConfig.name=sandbox",
      "kataConfig.nodeSelector.matchLabels.kata=enabled",
      "kataConfig.tolerations[0].key=sandbox",
      "kataConfig.tolerations[0].operator=Exists",
      "kataConfig.runtimeClasses[0].name=kata-qemu",
      "kataConfig.runtimeClasses[0].hypervisor=qemu",
      "kataConfig.runtimeClasses[0].default=true",
      "kataConfig.runtimeClasses[0].overhead.cpu=500m",
      "kataConfig.runtimeClasses[0].overhead.memory=192Mi",
      "kataConfig.virtualization=AllowSoftwareEmulation",
      "kataConfig.logLevel=debug",
      "kataConfig.containerd.flavor=k3s",
      "kataConfig.containerd.restartMethod=command",
      "kataConfig.containerd.restartCommand[0]=/usr/local/bin/k3s",
      "kataConfig.containerd.restartCommand[1]=k3s-restart",
      "kataConfig.rollout.maxUnavailable=25%",
      "kataConfig.uninstall.force=true",
    };
  }

  /** Every field of the rendered spec is one the CRD's schema declares (no typo is pruned). */
  static void assertKnownToTheCrd(JsonNode spec) throws Exception {
    Path crd = Path.of(System.getProperty("kata.crds.dir"), "kataconfigs.kataoperator.dev-v1.yml");
    JsonNode schema =
        Helm.YAML
            .readTree(crd.toFile())
            .at("/spec/versions/0/schema/openAPIV3Schema/properties/spec");
    List<String> unknown = new ArrayList<>();
    walk(spec, schema, "spec", unknown);
    assertEquals(List.of(), unknown, "fields the CRD does not declare");
  }

  private static void walk(JsonNode value, JsonNode schema, String path, List<String> unknown) {
    if (value.isObject()) {
      if (schema.has("additionalProperties")) {
        return;
      }
      for (String name : fieldNames(value)) {
        JsonNode s = schema.path("properties").path(name);
        if (s.isMissingNode()) {
          unknown.add(path + "." + name);
        } else {
          walk(value.get(name), s, path + "." + name, unknown);
        }
      }
    } else if (value.isArray()) {
      for (int i = 0; i < value.size(); i++) {
        walk(value.get(i), schema.path("items"), path + "[" + i + "]", unknown);
      }
    }
  }

  private static Set<String> fieldNames(JsonNode n) {
    Set<String> names = new java.util.TreeSet<>();
    n.fieldNames().forEachRemaining(names::add);
    return names;
  }

  private static JsonNode container(List<JsonNode> docs) {
    return Helm.only(docs, "Deployment").at("/spec/template/spec/containers/0");
  }

  private static String env(JsonNode container, String name) {
    for (JsonNode e : container.path("env")) {
      if (e.path("name").asText().equals(name)) {
        return e.path("value").asText();
      }
    }
    return null;
  }
}
