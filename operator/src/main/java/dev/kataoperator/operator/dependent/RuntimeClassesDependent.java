package dev.kataoperator.operator.dependent;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.installer.InstallerResources;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.processing.dependent.CRUDKubernetesBulkDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.KubernetesBulkDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The RuntimeClasses, as one bulk dependent: the desired set holds only the classes some selected
 * node supports, so the workflow creates a class when the first node reports it and deletes it when
 * the last one stops.
 */
@KubernetesDependent(informer = @Informer(labelSelector = InstallerResources.MANAGED_SELECTOR))
public class RuntimeClassesDependent extends OwnedDependent<RuntimeClass>
    implements CRUDKubernetesBulkDependentResource<RuntimeClass, KataConfig>,
        KubernetesBulkDependentResource<RuntimeClass, KataConfig> {

  public RuntimeClassesDependent() {
    super(RuntimeClass.class);
  }

  @Override
  public Map<ResourceID, RuntimeClass> desiredResources(
      KataConfig primary, Context<KataConfig> context) {
    Map<ResourceID, RuntimeClass> desired = new LinkedHashMap<>();
    for (RuntimeClass rc : Plans.get(context).runtimeClasses()) {
      desired.put(ResourceID.fromResource(rc), rc);
    }
    return desired;
  }
}
