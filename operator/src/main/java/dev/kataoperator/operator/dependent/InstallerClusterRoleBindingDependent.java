package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** Binds the installer ClusterRole to the installer's ServiceAccount. */
@KubernetesDependent(informer = @Informer(labelSelector = InstallerResources.MANAGED_SELECTOR))
public class InstallerClusterRoleBindingDependent extends OwnedDependent<ClusterRoleBinding> {
  public InstallerClusterRoleBindingDependent() {
    super(ClusterRoleBinding.class);
  }

  @Override
  protected ClusterRoleBinding desired(KataConfig primary, Context<KataConfig> context) {
    return InstallerResources.clusterRoleBinding(Plans.get(context).namespace());
  }
}
