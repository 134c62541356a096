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
        List.of(
            "!has(object.spec.hostNetwork) || object.spec.hostNetwork != true",
            "!has(object.spec.hostPID) || object.spec.hostPID != true",
            "!has(object.spec.hostIPC) || object.spec.hostIPC != true",
            "!has(object.spec.hostUsers) || object.spec.hostUsers != false"),
        rules.stream().map(Validation::getExpression).toList());
    List<String> labels =
        List.of("spec.hostNetwork", "spec.hostPID", "spec.hostIPC", "spec.hostUsers=false");
    for (int i = 0; i < rules.size(); i++) {
      Validation v = rules.get(i);
      String label = labels.get(i);
      assertTrue(v.getMessage().startsWith(label + " is not supported"), v.getMessage());
      assertTrue(v.getMessage().contains("own VM"), v.getMessage());
      assertTrue(v.getMessage().contains("use runc"), v.getMessage());
      assertTrue(v.getMessageExpression().startsWith("\"" + label + " "), v.getMessageExpression());
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
