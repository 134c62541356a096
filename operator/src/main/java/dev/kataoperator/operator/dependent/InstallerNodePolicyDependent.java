package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** See {@link InstallerResources#nodePolicy}: the installer may patch only its own Node. */
@KubernetesDependent(informer = @Informer(labelSelector = InstallerResources.MANAGED_SELECTOR))
public class InstallerNodePolicyDependent extends OwnedDependent<ValidatingAdmissionPolicy> {
  public InstallerNodePolicyDependent() {
    super(ValidatingAdmissionPolicy.class);
  }

  @Override
  protected ValidatingAdmissionPolicy desired(KataConfig primary, Context<KataConfig> context) {
    return InstallerResources.nodePolicy(Plans.get(context).namespace());
  }
}
