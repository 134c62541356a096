package dev.kataoperator.operator.installer;

import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
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
