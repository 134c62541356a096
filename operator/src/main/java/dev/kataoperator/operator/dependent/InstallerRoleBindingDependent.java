package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** Binds {@link InstallerRoleDependent}'s Role to the installer's ServiceAccount. */
@KubernetesDependent(
    informer =
        @Informer(
            labelSelector = InstallerResources.MANAGED_SELECTOR,
            namespaces = Constants.WATCH_CURRENT_NAMESPACE,
            followControllerNamespaceChanges = false))
public class InstallerRoleBindingDependent extends NamespacedDependent<RoleBinding> {
  public InstallerRoleBindingDependent() {
    super(RoleBinding.class);
  }

  @Override
  protected RoleBinding desired(KataConfig primary, Context<KataConfig> context) {
    return InstallerResources.roleBinding(Plans.get(context).namespace());
  }
}
