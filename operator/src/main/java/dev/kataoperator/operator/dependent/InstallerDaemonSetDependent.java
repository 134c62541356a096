package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Constants;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/**
 * The privileged runtime-node-installer DaemonSet, in the mode of the {@link
 * dev.kataoperator.operator.installer.Plan}: {@code install}, or {@code uninstall} once the
 * KataConfig is being deleted (see {@link NodesReverted} for when it is ready).
 */
@KubernetesDependent(
    informer =
        @Informer(
            labelSelector = InstallerResources.MANAGED_SELECTOR,
            namespaces = Constants.WATCH_CURRENT_NAMESPACE,
            followControllerNamespaceChanges = false))
public class InstallerDaemonSetDependent extends NamespacedDependent<DaemonSet> {
  public InstallerDaemonSetDependent() {
    super(DaemonSet.class);
  }

  @Override
  protected DaemonSet desired(KataConfig primary, Context<KataConfig> context) {
    return Plans.get(context).daemonSet();
  }
}
