package dev.kataoperator.operator.dependent;

import io.fabric8.kubernetes.api.model.HasMetadata;

/**
 * A dependent in the operator's namespace, which is the client's current namespace (the pod's own
 * namespace in a cluster). The KataConfig is cluster-scoped, so each subclass's informer must say
 * {@code namespaces = WATCH_CURRENT_NAMESPACE}: otherwise it would watch every namespace, and the
 * operator would need cluster-wide list/watch on these types.
 */
abstract class NamespacedDependent<R extends HasMetadata> extends OwnedDependent<R> {

  NamespacedDependent(Class<R> type) {
    super(type);
  }
}
