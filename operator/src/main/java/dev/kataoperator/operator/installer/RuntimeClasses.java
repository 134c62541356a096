package dev.kataoperator.operator.installer;

import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.operator.api.v1alpha1.RuntimeClassSpec;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClassBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The RuntimeClasses a KataConfig publishes. */
public final class RuntimeClasses {
  private RuntimeClasses() {}

  /** Name of the alias of the default runtime class. */
  public static final String ALIAS = "kata";

  /**
   * One RuntimeClass per class that at least one node supports ({@code supported}), plus {@code
   * kata} for the default class when that one is published. Handler = class name; the node selector
   * is the class's contract label, so pods land only where the installer said it works.
   */
  public static List<RuntimeClass> desired(InstallerSettings s, Set<String> supported) {
    List<RuntimeClass> out = new ArrayList<>();
    for (RuntimeClassSpec c : s.runtimeClasses()) {
      if (supported.contains(c.name)) {
        out.add(build(c.name, c));
        if (c.isDefault) {
          out.add(build(ALIAS, c));
        }
      }
    }
    return out;
  }

  static RuntimeClass build(String name, RuntimeClassSpec c) {
    return new RuntimeClassBuilder()
        .withMetadata(
            new ObjectMetaBuilder()
                .withName(name)
                .withLabels(
                    Map.of(
                        InstallerResources.LABEL_MANAGED_BY,
                        InstallerResources.MANAGED_BY,
                        InstallerResources.LABEL_PART_OF,
                        "kata"))
                .build())
        .withHandler(c.name)
        .withNewOverhead()
        .withPodFixed(
            Map.of("cpu", new Quantity(c.overhead.cpu), "memory", new Quantity(c.overhead.memory)))
        .endOverhead()
        .withNewScheduling()
        .withNodeSelector(
            Map.of(InstallerContract.runtimeClassLabel(c.name), InstallerContract.LABEL_TRUE))
        .endScheduling()
        .build();
  }
}
