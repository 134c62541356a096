package dev.kataoperator.operator.it;

import static dev.kataoperator.operator.it.KubeApiServerResource.admin;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The checked-in CRD, served by a real API server: defaults are applied and bad specs are rejected
 * at the API (OpenAPI schema and CEL rules), with the rule's message. Dry-run creates only, so the
 * operator under test never sees these objects.
 */
@Tag("apiserver")
@QuarkusTest
@WithTestResource(KubeApiServerResource.class)
class CrdValidationTest {
  static final ResourceDefinitionContext KC =
      new ResourceDefinitionContext.Builder()
          .withGroup("kataoperator.dev")
          .withVersion("v1alpha1")
          .withPlural("kataconfigs")
          .withKind("KataConfig")
          .withNamespaced(false)
          .build();

  static GenericKubernetesResource kataConfig(String specYaml) {
    String yaml =
        "apiVersion: kataoperator.dev/v1alpha1\nkind: KataConfig\nmetadata:\n  name: validation\n"
            + "spec:\n"
            + specYaml.indent(2);
    return admin().getKubernetesSerialization().unmarshal(yaml, GenericKubernetesResource.class);
  }

  static GenericKubernetesResource dryRunCreate(String specYaml) {
    return admin().genericKubernetesResources(KC).resource(kataConfig(specYaml)).dryRun().create();
  }

  @Test
  void emptySpecGetsDefaults() {
    GenericKubernetesResource created = dryRunCreate("{}");
    @SuppressWarnings("unchecked")
    Map<String, Object> spec = (Map<String, Object>) created.getAdditionalProperties().get("spec");
    assertEquals("RequireHardware", spec.get("virtualization"));
    assertEquals("info", spec.get("logLevel"));
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> classes = (List<Map<String, Object>>) spec.get("runtimeClasses");
    assertEquals("kata-qemu", classes.get(0).get("name"));
    assertEquals(Boolean.TRUE, classes.get(0).get("default"));
    assertEquals(1, classes.size(), "Firecracker is not a default until it has a backend");
    assertEquals(Map.of("maxUnavailable", 1), spec.get("rollout"));
    assertEquals(Map.of("flavor", "auto"), spec.get("containerd"));
  }

  @Test
  void aFullValidSpecIsAccepted() {
    dryRunCreate(
        """
        nodeSelector:
          matchLabels: {pool: sandbox}
        installer: {image: "registry.test/installer:1", imagePullPolicy: Always}
        runtimeClasses:
        - {name: kata-qemu, hypervisor: qemu, default: true, overhead: {cpu: 500m, memory: 256Mi}}
        - {name: kata-qemu-big, hypervisor: qemu, overhead: {cpu: "1", memory: 512Mi}}
        virtualization: AllowSoftwareEmulation
        containerd: {flavor: k3s, restartMethod: command, restartCommand: [systemctl, restart, k3s]}
        rollout: {maxUnavailable: "25%"}
        uninstall: {force: true}
        """);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"kataconfig.yaml", "kataconfig-tcg.yaml"})
  void examplesAreAccepted(String file) throws Exception {
    Path path = Path.of(System.getProperty("kata.examples.dir"), file);
    try (InputStream in = Files.newInputStream(path)) {
      GenericKubernetesResource example =
          admin().getKubernetesSerialization().unmarshal(in, GenericKubernetesResource.class);
      admin().genericKubernetesResources(KC).resource(example).dryRun().create();
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      textBlock =
          """
          duplicate names     | runtimeClasses: [{name: a}, {name: a}]                        | names must be unique
          two defaults        | runtimeClasses: [{name: a, default: true}, {name: b, default: true}] | at most one runtime class
          reserved alias      | runtimeClasses: [{name: kata}]                                  | default alias
          firecracker         | runtimeClasses: [{name: fc, hypervisor: firecracker}]         | firecracker is not supported yet
          bad hypervisor      | runtimeClasses: [{name: a, hypervisor: bhyve}]                  | Unsupported value
          bad class name      | runtimeClasses: [{name: Kata_QEMU}]                             | should match
          no classes          | runtimeClasses: []                                              | should have at least 1 items
          bad overhead        | runtimeClasses: [{name: a, overhead: {memory: lots}}]           | should match
          config with auto    | containerd: {flavor: auto, configPath: /etc/containerd/config.toml} | apply only with flavor
          command without cmd | containerd: {flavor: containerd, restartMethod: command}        | restartCommand is required
          cmd without command | containerd: {flavor: containerd, restartMethod: systemd, restartCommand: [x]} | restartCommand is required
          relative config     | containerd: {flavor: containerd, configPath: etc/config.toml}   | should match
          zero unavailable    | rollout: {maxUnavailable: 0}                                    | maxUnavailable must be
          bad percentage      | rollout: {maxUnavailable: "150%"}                               | maxUnavailable must be
          bad virtualization  | virtualization: Sometimes                                       | Unsupported value
          bad pull policy     | installer: {imagePullPolicy: Sometimes}                         | Unsupported value
          """)
  void invalidSpecIsRejected(String what, String specYaml, String expected) {
    KubernetesClientException e =
        assertThrows(KubernetesClientException.class, () -> dryRunCreate(specYaml));
    assertEquals(422, e.getCode(), what + ": " + e.getMessage());
    assertTrue(e.getMessage().contains(expected), what + ": " + e.getMessage());
  }
}
