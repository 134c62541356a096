package dev.kataoperator.operator.status;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigStatus;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * The one place a KataConfig's status is written, for reconcile, cleanup and errors alike (cleanup
 * cannot hand a status back to the SDK, so nobody does). It applies the status with the
 * controller's field manager only when it changed, and emits the Events the change deserves.
 */
@ApplicationScoped
public class StatusWriter {
  private final KataEvents events;

  public StatusWriter(KataEvents events) {
    this.events = events;
  }

  /** Writes {@code next} as the status of {@code kc}; returns whether anything changed. */
  public boolean write(KataConfig kc, KataConfigStatus next, Context<KataConfig> context) {
    KataConfigStatus before = kc.getStatus();
    if (before != null && Serialization.asJson(before).equals(Serialization.asJson(next))) {
      return false;
    }
    KataConfig patch = new KataConfig();
    patch.setMetadata(new ObjectMetaBuilder().withName(kc.getMetadata().getName()).build());
    patch.setStatus(next);
    // Through the SDK, so its cache holds the result and the next run sees this status.
    context.resourceOperations().serverSideApplyPrimaryStatus(patch);
    events.emit(kc, Transitions.between(before, next));
    kc.setStatus(next);
    return true;
  }
}
