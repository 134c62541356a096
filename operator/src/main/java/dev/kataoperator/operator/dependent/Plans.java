package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.Plan;
import io.javaoperatorsdk.operator.api.reconciler.Context;

/** Where the reconciler leaves the {@link Plan} for the dependents of one reconciliation. */
public final class Plans {
  private Plans() {}

  private static final String KEY = Plan.class.getName();

  public static void put(Context<KataConfig> context, Plan plan) {
    context.managedWorkflowAndDependentResourceContext().put(KEY, plan);
  }

  public static Plan get(Context<KataConfig> context) {
    return context.managedWorkflowAndDependentResourceContext().getMandatory(KEY, Plan.class);
  }
}
