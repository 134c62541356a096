package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.RestartMethod;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.List;

/** Where containerd's configuration is and how to restart it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "self.flavor != 'auto' || (!has(self.configPath) && !has(self.restartMethod))",
    message =
        "configPath and restartMethod apply only with flavor containerd, k3s or rke2"
            + " (auto detects both)")
@ValidationRule(
    value =
        "has(self.restartMethod) && self.restartMethod == 'command'"
            + " ? has(self.restartCommand) && size(self.restartCommand) > 0"
            + " : !has(self.restartCommand)",
    message = "restartCommand is required with restartMethod command, and allowed only with it")
public class ContainerdSpec {

  @JsonPropertyDescription(
      "auto: detect plain containerd, k3s or rke2 and their config and restart method."
          + " containerd|k3s|rke2: use that flavor's defaults, overridden by configPath and"
          + " restartMethod.")
  @Default("auto")
  public ContainerdFlavor flavor = ContainerdFlavor.auto;

  @JsonPropertyDescription(
      "Absolute path on the node of the containerd config (or, for k3s/rke2, its template)"
          + " to patch. Only with an explicit flavor.")
  @Pattern("^/.*")
  public String configPath;

  @JsonPropertyDescription(
      "How the installer restarts containerd after patching its config: systemd (the"
          + " flavor's unit), command (restartCommand, run in the host's namespaces) or none."
          + " Only with an explicit flavor; default systemd.")
  public RestartMethod restartMethod;

  @JsonPropertyDescription("Command and arguments for restartMethod command.")
  @Size(max = 32)
  public List<String> restartCommand;
}
