package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import dev.kataoperator.operator.installer.KataPodPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** See {@link KataPodPolicy}: pods of our runtime classes may not ask for host namespaces. */
@KubernetesDependent(informer = @Informer(labelSelector = InstallerResources.MANAGED_SELECTOR))
public class KataPodPolicyDependent extends OwnedDependent<ValidatingAdmissionPolicy> {
  public KataPodPolicyDependent() {
    super(ValidatingAdmissionPolicy.class);
  }

  @Override
  protected ValidatingAdmissionPolicy desired(KataConfig primary, Context<KataConfig> context) {
    return KataPodPolicy.policy(Plans.get(context).allRuntimeClassNames());
  }
}
