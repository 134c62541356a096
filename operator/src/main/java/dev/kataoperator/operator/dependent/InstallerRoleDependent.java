package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** Lets the installer read its own DaemonSet. */
@KubernetesDependent(
    informer =
        @Informer(
            labelSelector = InstallerResources.MANAGED_SELECTOR,
            namespaces = Constants.WATCH_CURRENT_NAMESPACE,
            followControllerNamespaceChanges = false))
public class InstallerRoleDependent extends NamespacedDependent<Role> {
  public InstallerRoleDependent() {
    super(Role.class);
  }

  @Override
  protected Role desired(KataConfig primary, Context<KataConfig> context) {
    return InstallerResources.role(Plans.get(context).namespace());
  }
}
