package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.IntOrString;

/** Rolling update of the installer DaemonSet. */
public class RolloutSpec {

  @JsonPropertyDescription(
      "Most nodes being (re)installed at once when the installer changes: a count (>= 1) or a"
          + " percentage of the selected nodes ('25%').")
  @Default("1")
  @ValidationRule(
      value = "type(self) == int ? self >= 1 : self.matches('^([1-9][0-9]?|100)%$')",
      message = "maxUnavailable must be an integer >= 1 or a percentage between 1% and 100%")
  public IntOrString maxUnavailable = new IntOrString(1);
}
