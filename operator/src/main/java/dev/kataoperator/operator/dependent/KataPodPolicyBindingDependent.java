package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import dev.kataoperator.operator.installer.KataPodPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;

/** Puts {@link KataPodPolicy} in force (Deny), for every namespace. */
@KubernetesDependent(informer = @Informer(labelSelector = InstallerResources.MANAGED_SELECTOR))
public class KataPodPolicyBindingDependent
    extends OwnedDependent<ValidatingAdmissionPolicyBinding> {
  public KataPodPolicyBindingDependent() {
    super(ValidatingAdmissionPolicyBinding.class);
  }

  @Override
  protected ValidatingAdmissionPolicyBinding desired(
      KataConfig primary, Context<KataConfig> context) {
    return KataPodPolicy.binding();
  }
}
