package dev.kataoperator.operator.installer;

import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBindingBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.Validation;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidationBuilder;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The admission policy for pods of the KataConfig's runtime classes: a pod that runs in its own VM
 * cannot share the node's namespaces, so asking for them is refused when the pod is created (the
 * user reads why in {@code kubectl apply}) instead of failing or misbehaving on the node.
 */
public final class KataPodPolicy {
  private KataPodPolicy() {}

  public static final String NAME = "kata-operator-kata-pods";

  /**
   * A pod field a Kata pod may not set to {@code refused}, and why.
   *
   * @param refused the refused value: {@code true} for the node's namespaces; {@code false} for
   *     hostUsers, since CRI then asks the runtime to make the pod's network namespace, and
   *     containerd would run CNI in the namespace of the VM's host process
   */
  record HostField(String field, boolean refused, String why) {
    /** How the message names the field: {@code spec.hostPID}, {@code spec.hostUsers=false}. */
    String label() {
      return "spec." + field + (refused ? "" : "=false");
    }
  }

  static final List<HostField> FIELDS =
      List.of(
          new HostField("hostNetwork", true, "cannot use the node's network namespace"),
          new HostField("hostPID", true, "cannot see the node's processes"),
          new HostField("hostIPC", true, "cannot use the node's IPC namespace"),
          new HostField(
              "hostUsers",
              false,
              "is their isolation from the node; a user namespace of their own is not supported"
                  + " yet"));

  /**
   * Rejects, at creation, a Pod whose runtimeClassName is one of {@code runtimeClasses} and that
   * sets one of {@link #FIELDS} to its refused value. Pods are checked on CREATE only: these fields
   * are immutable, and pods admitted before the policy existed must stay updatable.
   */
  public static ValidatingAdmissionPolicy policy(Collection<String> runtimeClasses) {
    String names =
        runtimeClasses.stream().sorted().map(n -> "'" + n + "'").collect(Collectors.joining(", "));
    return new ValidatingAdmissionPolicyBuilder()
        .withMetadata(meta())
        .withNewSpec()
        .withFailurePolicy("Fail")
        .withNewMatchConstraints()
        .addNewResourceRule()
        .withApiGroups("")
        .withApiVersions("v1")
        .withOperations("CREATE")
        .withResources("pods")
        .endResourceRule()
        .endMatchConstraints()
        .addNewMatchCondition()
        .withName("kata-runtime-class")
        .withExpression(
            "has(object.spec.runtimeClassName) && object.spec.runtimeClassName in [" + names + "]")
        .endMatchCondition()
        .withValidations(FIELDS.stream().map(KataPodPolicy::validation).toList())
        .endSpec()
        .build();
  }

  /**
   * One rule per field, so the message names the field that is set. {@code messageExpression} adds
   * the pod's runtime class; {@code message} is what the API server falls back to.
   */
  static Validation validation(HostField f) {
    String rest =
        " run in their own VM, which "
            + f.why()
            + "; use runc (no runtimeClassName) for pods that need this";
    return new ValidationBuilder()
        .withExpression(
            "!has(object.spec."
                + f.field()
                + ") || object.spec."
                + f.field()
                + " != "
                + f.refused())
        .withMessage(f.label() + " is not supported by Kata pods: they" + rest)
        .withMessageExpression(
            "\""
                + f.label()
                + " is not supported with runtimeClassName \" + object.spec.runtimeClassName"
                + " + \": Kata pods"
                + rest
                + "\"")
        .withReason("Invalid")
        .build();
  }

  public static ValidatingAdmissionPolicyBinding binding() {
    return new ValidatingAdmissionPolicyBindingBuilder()
        .withMetadata(meta())
        .withNewSpec()
        .withPolicyName(NAME)
        .withValidationActions("Deny")
        .endSpec()
        .build();
  }

  static ObjectMeta meta() {
    return new ObjectMetaBuilder()
        .withName(NAME)
        .withLabels(
            Map.of(
                InstallerResources.LABEL_MANAGED_BY,
                InstallerResources.MANAGED_BY,
                InstallerResources.LABEL_PART_OF,
                "kata"))
        .build();
  }
}
