package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** The installer's ServiceAccount. */
@KubernetesDependent(
    informer =
        @Informer(
            labelSelector = InstallerResources.MANAGED_SELECTOR,
            namespaces = Constants.WATCH_CURRENT_NAMESPACE,
            followControllerNamespaceChanges = false))
public class InstallerServiceAccountDependent extends NamespacedDependent<ServiceAccount> {
  public InstallerServiceAccountDependent() {
    super(ServiceAccount.class);
  }

  @Override
  protected ServiceAccount desired(KataConfig primary, Context<KataConfig> context) {
    return InstallerResources.serviceAccount(Plans.get(context).namespace());
  }
}
