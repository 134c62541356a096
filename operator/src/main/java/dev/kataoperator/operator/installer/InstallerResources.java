package dev.kataoperator.operator.installer;

import dev.kataoperator.contract.InstallerContract;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBindingBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import io.fabric8.kubernetes.api.model.rbac.RoleBuilder;
import java.util.Map;

/**
 * Names, labels and the least-privilege RBAC of the runtime-node-installer.
 *
 * <p>The installer may: get and patch Nodes (its own: the NODE_NAME it is given; RBAC cannot name a
 * node per pod), get its own DaemonSet (to decide on stop whether it still selects the node), and
 * read KataConfigs. Nothing else.
 */
public final class InstallerResources {
  private InstallerResources() {}

  public static final String NAME = "runtime-node-installer";
  public static final String CLUSTER_ROLE = "kata-operator:runtime-node-installer";
  public static final String NODE_POLICY = "kata-operator-runtime-node-installer";
  static final String NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name";
  public static final String LABEL_NAME = "app.kubernetes.io/name";
  public static final String LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
  public static final String LABEL_PART_OF = "app.kubernetes.io/part-of";
  public static final String MANAGED_BY = "kata-operator";

  /** Informer selector for everything the operator creates. */
  public static final String MANAGED_SELECTOR = LABEL_MANAGED_BY + "=" + MANAGED_BY;

  public static Map<String, String> labels() {
    return Map.of(LABEL_NAME, NAME, LABEL_MANAGED_BY, MANAGED_BY, LABEL_PART_OF, "kata");
  }

  public static Map<String, String> selectorLabels() {
    return Map.of(LABEL_NAME, NAME);
  }

  static ObjectMeta meta(String name, String namespace) {
    return new ObjectMetaBuilder()
        .withName(name)
        .withNamespace(namespace)
        .withLabels(labels())
        .build();
  }

  public static ServiceAccount serviceAccount(String namespace) {
    return new ServiceAccountBuilder()
        .withMetadata(meta(NAME, namespace))
        .withAutomountServiceAccountToken(true)
        .build();
  }

  public static ClusterRole clusterRole() {
    return new ClusterRoleBuilder()
        .withMetadata(meta(CLUSTER_ROLE, null))
        .withRules(
            new PolicyRuleBuilder()
                .withApiGroups("")
                .withResources("nodes")
                .withVerbs("get", "patch")
                .build(),
            new PolicyRuleBuilder()
                .withApiGroups("kataoperator.dev")
                .withResources("kataconfigs")
                .withVerbs("get", "list", "watch")
                .build())
        .build();
  }

  public static ClusterRoleBinding clusterRoleBinding(String namespace) {
    return new ClusterRoleBindingBuilder()
        .withMetadata(meta(CLUSTER_ROLE, null))
        .withNewRoleRef("rbac.authorization.k8s.io", "ClusterRole", CLUSTER_ROLE)
        .addNewSubject()
        .withKind("ServiceAccount")
        .withName(NAME)
        .withNamespace(namespace)
        .endSubject()
        .build();
  }

  /** The installer's ServiceAccount user name. */
  public static String username(String namespace) {
    return "system:serviceaccount:" + namespace + ":" + NAME;
  }

  /** Keeps the installer to its own Node, and to the contract's keys on it. */
  public static ValidatingAdmissionPolicy nodePolicy(String namespace) {
    String p = "'" + InstallerContract.PREFIX + "'";
    return new ValidatingAdmissionPolicyBuilder()
        .withMetadata(meta(NODE_POLICY, null))
        .withNewSpec()
        .withFailurePolicy("Fail")
        .withNewMatchConstraints()
        .addNewResourceRule()
        .withApiGroups("")
        .withApiVersions("v1")
        .withOperations("UPDATE")
        .withResources("nodes")
        .endResourceRule()
        .endMatchConstraints()
        .addNewMatchCondition()
        .withName("runtime-node-installer")
        .withExpression("request.userInfo.username == '" + username(namespace) + "'")
        .endMatchCondition()
        .addNewValidation()
        .withExpression(
            "has(request.userInfo.extra) && '"
                + NODE_NAME_EXTRA
                + "' in request.userInfo.extra && request.userInfo.extra['"
                + NODE_NAME_EXTRA
                + "'].exists(n, n == object.metadata.name)")
        .withMessage("the runtime-node-installer may change only the Node its pod runs on")
        .withReason("Forbidden")
        .endValidation()
        .addNewValidation()
        .withExpression(onlyContractKeysChanged("labels", p))
        .withMessage("the runtime-node-installer may change only kataoperator.dev/ labels")
        .withReason("Forbidden")
        .endValidation()
        .addNewValidation()
        .withExpression(onlyContractKeysChanged("annotations", p))
        .withMessage("the runtime-node-installer may change only kataoperator.dev/ annotations")
        .withReason("Forbidden")
        .endValidation()
        .addNewValidation()
        .withExpression(
            "has(object.spec) == has(oldObject.spec) && (!has(object.spec) || object.spec =="
                + " oldObject.spec)")
        .withMessage("the runtime-node-installer may not change a Node's spec")
        .withReason("Forbidden")
        .endValidation()
        .endSpec()
        .build();
  }

  /** CEL: every key of metadata.{field} outside the prefix is unchanged, added or removed. */
  static String onlyContractKeysChanged(String field, String prefix) {
    String o = "object.metadata." + field;
    String old = "oldObject.metadata." + field;
    return "(!has("
        + o
        + ") || "
        + o
        + ".all(k, k.startsWith("
        + prefix
        + ") || (has("
        + old
        + ") && k in "
        + old
        + " && "
        + old
        + "[k] == "
        + o
        + "[k]))) && (!has("
        + old
        + ") || "
        + old
        + ".all(k, k.startsWith("
        + prefix
        + ") || (has("
        + o
        + ") && k in "
        + o
        + ")))";
  }

  public static ValidatingAdmissionPolicyBinding nodePolicyBinding() {
    return new ValidatingAdmissionPolicyBindingBuilder()
        .withMetadata(meta(NODE_POLICY, null))
        .withNewSpec()
        .withPolicyName(NODE_POLICY)
        .withValidationActions("Deny")
        .endSpec()
        .build();
  }

  public static Role role(String namespace) {
    return new RoleBuilder()
        .withMetadata(meta(NAME, namespace))
        .withRules(
            new PolicyRuleBuilder()
                .withApiGroups("apps")
                .withResources("daemonsets")
                .withResourceNames(NAME)
                .withVerbs("get")
                .build())
        .build();
  }

  public static RoleBinding roleBinding(String namespace) {
    return new RoleBindingBuilder()
        .withMetadata(meta(NAME, namespace))
        .withNewRoleRef("rbac.authorization.k8s.io", "Role", NAME)
        .addNewSubject()
        .withKind("ServiceAccount")
        .withName(NAME)
        .withNamespace(namespace)
        .endSubject()
        .build();
  }
}
