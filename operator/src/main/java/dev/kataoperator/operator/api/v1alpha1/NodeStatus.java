package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** One selected node, as its installer reported it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class NodeStatus {

  @JsonPropertyDescription("Node name.")
  public String name;

  @JsonPropertyDescription(
      "Pending (no report yet), Installing, Installed, Failed, Uninstalling or Uninstalled.")
  public Phase phase;

  @JsonPropertyDescription("Virtualization the installer detected: hardware, nested, pvm, none.")
  public String virtualization;

  @JsonPropertyDescription("Version of the Kata payload installed in /opt/kata.")
  public String payloadVersion;

  @JsonPropertyDescription("RuntimeClasses usable on this node.")
  public List<String> runtimeClasses = new ArrayList<>();

  @JsonPropertyDescription("Whether the report is for the current installer image and settings.")
  public boolean upToDate;

  @JsonPropertyDescription("The installer's last message (the cause, when Failed).")
  public String message;

  /** Node phases. */
  public enum Phase {
    Pending,
    Installing,
    Installed,
    Failed,
    Uninstalling,
    Uninstalled
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof NodeStatus n
        && Objects.equals(name, n.name)
        && phase == n.phase
        && Objects.equals(virtualization, n.virtualization)
        && Objects.equals(payloadVersion, n.payloadVersion)
        && Objects.equals(runtimeClasses, n.runtimeClasses)
        && upToDate == n.upToDate
        && Objects.equals(message, n.message);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, phase, virtualization, payloadVersion, upToDate, message);
  }
}
