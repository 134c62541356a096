package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;

/** Deletion behaviour. */
public class UninstallSpec {

  @JsonPropertyDescription(
      "Uninstall even while pods use the RuntimeClasses (they lose their runtime on the node"
          + " and fail). By default deletion waits, and the status names the pods.")
  @Default("false")
  public boolean force;
}
