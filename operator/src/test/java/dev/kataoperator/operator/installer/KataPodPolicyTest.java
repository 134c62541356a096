package dev.kataoperator.operator.installer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.Validation;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The policy's shape; what it admits and refuses is proven on a real API server. */
@Tag("unit")
class KataPodPolicyTest {

  @Test
  void matchesPodCreationsOfTheGivenClassesOnly() {
    ValidatingAdmissionPolicy p = KataPodPolicy.policy(Set.of("kata-qemu", "kata"));
    var rule = p.getSpec().getMatchConstraints().getResourceRules().get(0);
    assertEquals(List.of("pods"), rule.getResources());
    assertEquals(List.of("CREATE"), rule.getOperations());
    assertEquals("Fail", p.getSpec().getFailurePolicy());
    assertEquals(
        "has(object.spec.runtimeClassName) && object.spec.runtimeClassName in ['kata',"
            + " 'kata-qemu']",
        p.getSpec().getMatchConditions().get(0).getExpression());
  }

  @Test
  void oneRuleAndMessagePerHostNamespaceField() {
    List<Validation> rules = KataPodPolicy.policy(Set.of("kata-qemu")).getSpec().getValidations();
    assertEquals(
        List.of("object.spec.hostNetwork", "object.spec.hostPID", "object.spec.hostIPC"),
        rules.stream()
            .map(v -> v.getExpression().replaceAll(".* ([^ ]+) != true$", "$1"))
            .toList());
    for (Validation v : rules) {
      String field = v.getExpression().replaceAll(".*object\\.(spec\\.[A-Za-z]+) != true$", "$1");
      assertTrue(v.getMessage().startsWith(field + " is not supported"), v.getMessage());
      assertTrue(v.getMessage().contains("own VM"), v.getMessage());
      assertTrue(v.getMessage().contains("use runc"), v.getMessage());
      assertTrue(v.getMessageExpression().startsWith("\"" + field + " "), v.getMessageExpression());
      assertTrue(
          v.getMessageExpression().contains("+ object.spec.runtimeClassName +"),
          v.getMessageExpression());
    }
  }

  @Test
  void bindingDeniesWithThePolicy() {
    var b = KataPodPolicy.binding();
    assertEquals(KataPodPolicy.NAME, b.getSpec().getPolicyName());
    assertEquals(List.of("Deny"), b.getSpec().getValidationActions());
    assertEquals(KataPodPolicy.NAME, b.getMetadata().getName());
  }
}
