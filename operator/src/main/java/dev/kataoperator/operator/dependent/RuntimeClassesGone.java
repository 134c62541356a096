package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;

/**
 * The RuntimeClasses' deletePostcondition: the cleanup removes what they depend on (the pod
 * admission policy, the installer) only once no class of this KataConfig is left, so a class is
 * never published without the policy that guards its pods.
 */
public class RuntimeClassesGone implements Condition<RuntimeClass, KataConfig> {
  @Override
  public boolean isMet(
      DependentResource<RuntimeClass, KataConfig> dependentResource,
      KataConfig primary,
      Context<KataConfig> context) {
    return context.getSecondaryResources(RuntimeClass.class).isEmpty();
  }
}
