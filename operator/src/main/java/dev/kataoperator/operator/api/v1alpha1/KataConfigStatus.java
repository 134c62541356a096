package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonClassDescription;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

/** Observed state, written by the operator only. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonClassDescription(
    "What the operator observed: per-node results from the installers, counts, conditions. Written by the operator only.")
public class KataConfigStatus {

  /** Condition types. */
  public static final String READY = "Ready";

  public static final String PROGRESSING = "Progressing";
  public static final String DEGRADED = "Degraded";

  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;

  @JsonPropertyDescription(
      "Ready: every selected node has Kata installed with the current settings. Progressing:"
          + " nodes are being installed, updated or reverted. Degraded: a node failed, or this"
          + " KataConfig is refused.")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription("Nodes selected by spec.nodeSelector (and tolerations).")
  public int selectedNodes;

  @JsonPropertyDescription("Selected nodes where the installer reported Installed.")
  public int installedNodes;

  @JsonPropertyDescription("Selected nodes installing, or installed with older settings.")
  public int installingNodes;

  @JsonPropertyDescription("Selected nodes where the installer reported a failure.")
  public int failedNodes;

  @JsonPropertyDescription("Selected nodes with no report from the installer yet.")
  public int pendingNodes;

  @JsonPropertyDescription("Selected nodes being reverted (during deletion).")
  public int uninstallingNodes;

  @JsonPropertyDescription("RuntimeClasses published for this KataConfig.")
  public List<String> runtimeClasses = new ArrayList<>();

  @JsonPropertyDescription("The installer image the DaemonSet runs.")
  public String installerImage;

  @JsonPropertyDescription("Per-node results, as the installer reported them.")
  public List<NodeStatus> nodes = new ArrayList<>();
}
