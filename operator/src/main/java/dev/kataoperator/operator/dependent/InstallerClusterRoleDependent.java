package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** Lets the installer patch Nodes and read KataConfigs. */
@KubernetesDependent(informer = @Informer(labelSelector = InstallerResources.MANAGED_SELECTOR))
public class InstallerClusterRoleDependent extends OwnedDependent<ClusterRole> {
  public InstallerClusterRoleDependent() {
    super(ClusterRole.class);
  }

  @Override
  protected ClusterRole desired(KataConfig primary, Context<KataConfig> context) {
    return InstallerResources.clusterRole();
  }
}
