package dev.kataoperator.operator.dependent;

import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.DependentResource;
import io.javaoperatorsdk.operator.processing.dependent.workflow.Condition;

/**
 * The installer DaemonSet's readyPostcondition. In the uninstall plan it holds until every selected
 * node that reported a state reports {@code uninstalled}, so the dependents after the DaemonSet
 * (the RuntimeClasses) stay as they are while the nodes revert. In the install plan the DaemonSet
 * is ready once applied: each RuntimeClass follows the nodes' own reports, not the rollout.
 */
public class NodesReverted implements Condition<DaemonSet, KataConfig> {
  @Override
  public boolean isMet(
      DependentResource<DaemonSet, KataConfig> dependentResource,
      KataConfig primary,
      Context<KataConfig> context) {
    var plan = Plans.get(context);
    return plan.mode() == Mode.install || plan.nodesToRevert().isEmpty();
  }
}
