package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.CRUDKubernetesDependentResource;
import java.util.Set;

/**
 * A dependent in the operator's namespace. The KataConfig is cluster-scoped, so without this its
 * informer would watch every namespace (and the operator would need cluster-wide list/watch).
 */
abstract class NamespacedDependent<R extends HasMetadata>
    extends CRUDKubernetesDependentResource<R, KataConfig> {

  NamespacedDependent(Class<R> type) {
    super(type);
  }

  @Override
  protected InformerEventSourceConfiguration.Builder<R> informerConfigurationBuilder(
      EventSourceContext<KataConfig> context) {
    return super.informerConfigurationBuilder(context)
        .withNamespaces(Set.of(Plans.operatorNamespace()));
  }
}
