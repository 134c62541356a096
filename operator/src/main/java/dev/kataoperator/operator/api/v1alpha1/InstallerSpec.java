package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import java.util.ArrayList;
import java.util.List;

/** The runtime-node-installer image. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class InstallerSpec {

  @JsonPropertyDescription(
      "Installer image reference. Absent: the operator's own default (the installer released"
          + " with it). Changing it rolls the installer over the nodes, rollout.maxUnavailable"
          + " at a time; a replaced installer never reverts its node.")
  @Pattern("^[^\\s]+$")
  public String image;

  @JsonPropertyDescription("Pull policy of the installer image.")
  @Default("IfNotPresent")
  public PullPolicy imagePullPolicy = PullPolicy.IfNotPresent;

  @JsonPropertyDescription(
      "Names of Secrets in the operator's namespace used to pull the installer image.")
  public List<String> imagePullSecrets = new ArrayList<>();

  /** Kubernetes image pull policies. */
  public enum PullPolicy {
    Always,
    IfNotPresent,
    Never
  }
}
