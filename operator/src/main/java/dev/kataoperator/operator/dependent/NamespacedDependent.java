package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;

/**
 * A dependent in the operator's namespace, which is the client's current namespace (the pod's own
 * namespace in a cluster). The KataConfig is cluster-scoped, so each subclass's informer must say
 * {@code namespaces = WATCH_CURRENT_NAMESPACE}: otherwise it would watch every namespace, and the
 * operator would need cluster-wide list/watch on these types.
 */
abstract class NamespacedDependent<R extends HasMetadata>
    extends CRUDKubernetesDependentResource<R, KataConfig> {

  NamespacedDependent(Class<R> type) {
    super(type);
  }
}
