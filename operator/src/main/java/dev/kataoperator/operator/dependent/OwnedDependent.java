package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDNoGCKubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.SecondaryToPrimaryMapper;
import io.javaoperatorsdk.operator.processing.event.source.informer.Mappers;
import java.util.Set;

/**
 * A dependent the workflow's cleanup deletes explicitly, in the workflow's order, and that still
 * carries an owner reference to the KataConfig.
 *
 * <p>Explicitly: the uninstall must remove things in order (the installer's RBAC outlives its
 * DaemonSet) and must work without a garbage collector (the API-server tests have none). The owner
 * reference stays as a backstop: when someone removes the KataConfig's finalizer by hand, the
 * cluster's garbage collector still removes what it owned; and it maps their events back to the
 * KataConfig.
 */
abstract class OwnedDependent<R extends HasMetadata>
    extends CRUDNoGCKubernetesDependentResource<R, KataConfig>
    implements SecondaryToPrimaryMapper<R> {

  private final SecondaryToPrimaryMapper<R> owners =
      Mappers.fromOwnerReferences(KataConfig.class, true);

  OwnedDependent(Class<R> type) {
    super(type);
  }

  @Override
  protected boolean addOwnerReference() {
    return true;
  }

  @Override
  public Set<ResourceID> toPrimaryResourceIDs(R resource) {
    return owners.toPrimaryResourceIDs(resource);
  }
}
