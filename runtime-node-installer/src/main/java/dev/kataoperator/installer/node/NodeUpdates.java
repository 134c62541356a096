package dev.kataoperator.installer.node;

import static dev.kataoperator.contract.InstallerContract.*;

import dev.kataoperator.contract.InstallerContract.RuntimeState;
import dev.kataoperator.contract.Virtualization;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The contract's writes, one per moment of the flow (docs/operator.md, "Installer → operator").
 * Each sets the state label together with the annotations that explain it. Runtime class labels are
 * the RuntimeClasses' node selectors: added only in {@link #installed} (the class works), removed
 * in {@link #installing} (classes no longer wanted, before their handler goes) and {@link
 * #uninstalling} (all, before anything is taken away).
 *
 * @param configHash the {@code KATA_CONFIG_HASH} acted on
 * @param installerImage the {@code KATA_INSTALLER_IMAGE} running
 */
public record NodeUpdates(String configHash, String installerImage) {
  /** Longest message written; the API server limits annotations in total, we keep it readable. */
  static final int MESSAGE_LIMIT = 1024;

  /** Starting an install: which classes are coming, on what virtualization. */
  public NodeUpdate installing(
      Virtualization virtualization, Set<String> labelledClasses, Set<String> wanted, String what) {
    Set<String> stale = new HashSet<>(labelledClasses);
    stale.removeAll(wanted);
    return new NodeUpdate(
        Map.of(LABEL_STATE, RuntimeState.installing.name()),
        classLabels(stale),
        common(Map.of(ANNOTATION_VIRTUALIZATION, virtualization.label(), ANNOTATION_MESSAGE, what)),
        Set.of());
  }

  /** Done: every class in {@code classes} works, and only those are labelled. */
  public NodeUpdate installed(
      Virtualization virtualization,
      List<String> hypervisors,
      String payloadVersion,
      Set<String> labelledClasses,
      Set<String> classes,
      String what) {
    Map<String, String> labels = new HashMap<>();
    classes.forEach(c -> labels.put(runtimeClassLabel(c), LABEL_TRUE));
    labels.put(LABEL_STATE, RuntimeState.installed.name());
    Set<String> stale = new HashSet<>(labelledClasses);
    stale.removeAll(classes);
    return new NodeUpdate(
        labels,
        classLabels(stale),
        common(
            Map.of(
                ANNOTATION_VIRTUALIZATION,
                virtualization.label(),
                ANNOTATION_HYPERVISORS,
                String.join(",", hypervisors),
                ANNOTATION_PAYLOAD_VERSION,
                payloadVersion,
                ANNOTATION_MESSAGE,
                what)),
        Set.of());
  }

  /**
   * Failed: the cause in the message; class labels kept only for {@code stillWorking} (a rollback
   * that brought the previous installation back).
   */
  public NodeUpdate failed(
      Optional<Virtualization> virtualization,
      Set<String> labelledClasses,
      Set<String> stillWorking,
      String cause) {
    Set<String> remove = new HashSet<>(labelledClasses);
    remove.removeAll(stillWorking);
    Map<String, String> annotations = new HashMap<>();
    annotations.put(ANNOTATION_MESSAGE, cause);
    virtualization.ifPresent(v -> annotations.put(ANNOTATION_VIRTUALIZATION, v.label()));
    return new NodeUpdate(
        Map.of(LABEL_STATE, RuntimeState.failed.name()),
        classLabels(remove),
        common(annotations),
        Set.of());
  }

  /** Starting an uninstall: every class label goes first, before any class stops working. */
  public NodeUpdate uninstalling(Set<String> labelledClasses, String what) {
    return new NodeUpdate(
        Map.of(LABEL_STATE, RuntimeState.uninstalling.name()),
        classLabels(labelledClasses),
        common(Map.of(ANNOTATION_MESSAGE, what)),
        Set.of());
  }

  /** Done uninstalling: the node's details are cleared; state, hash and image remain. */
  public NodeUpdate uninstalled() {
    return new NodeUpdate(
        Map.of(LABEL_STATE, RuntimeState.uninstalled.name()),
        Set.of(),
        common(Map.of()),
        Set.of(
            ANNOTATION_VIRTUALIZATION,
            ANNOTATION_HYPERVISORS,
            ANNOTATION_PAYLOAD_VERSION,
            ANNOTATION_MESSAGE));
  }

  /** The runtime classes a node's labels say work there. */
  public static Set<String> labelledClasses(Map<String, String> labels) {
    return NodeReport.parse(labels, Map.of()).runtimeClasses();
  }

  private Map<String, String> common(Map<String, String> annotations) {
    Map<String, String> m = new HashMap<>(annotations);
    m.computeIfPresent(ANNOTATION_MESSAGE, (k, v) -> oneLine(v));
    if (!configHash.isBlank()) {
      m.put(ANNOTATION_CONFIG_HASH, configHash);
    }
    if (!installerImage.isBlank()) {
      m.put(ANNOTATION_INSTALLER_IMAGE, installerImage);
    }
    return m;
  }

  private static Set<String> classLabels(Set<String> classes) {
    return classes.stream().map(c -> runtimeClassLabel(c)).collect(Collectors.toSet());
  }

  static String oneLine(String s) {
    String l = s.replaceAll("\\s+", " ").strip();
    return l.length() > MESSAGE_LIMIT ? l.substring(0, MESSAGE_LIMIT - 3) + "..." : l;
  }
}
