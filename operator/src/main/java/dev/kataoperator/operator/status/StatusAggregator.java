package dev.kataoperator.operator.status;

import static dev.kataoperator.operator.api.v1alpha1.KataConfigStatus.DEGRADED;
import static dev.kataoperator.operator.api.v1alpha1.KataConfigStatus.PROGRESSING;
import static dev.kataoperator.operator.api.v1alpha1.KataConfigStatus.READY;

import dev.kataoperator.contract.InstallerContract.NodeReport;
import dev.kataoperator.contract.InstallerContract.RuntimeState;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus;
import dev.kataoperator.operator.api.v1alpha1.NodeStatus.Phase;
import dev.kataoperator.operator.installer.Plan;
import io.fabric8.kubernetes.api.model.Condition;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** Builds a KataConfig's status from a {@link Plan}. Pure, so unit-testable. */
public final class StatusAggregator {
  private StatusAggregator() {}

  /** Node names listed in a condition message before "and N more". */
  static final int NAMES_IN_MESSAGE = 5;

  public static NodeStatus nodeStatus(String name, NodeReport r, String currentHash) {
    NodeStatus n = new NodeStatus();
    n.name = name;
    n.phase = r.state().map(StatusAggregator::phase).orElse(Phase.Pending);
    n.virtualization = r.virtualization().map(Enum::name).orElse(null);
    n.payloadVersion = r.payloadVersion().orElse(null);
    n.runtimeClasses = new ArrayList<>(r.runtimeClasses());
    n.upToDate = r.isFor(currentHash);
    n.message = r.message().orElse(null);
    return n;
  }

  static Phase phase(RuntimeState s) {
    return switch (s) {
      case installing -> Phase.Installing;
      case installed -> Phase.Installed;
      case failed -> Phase.Failed;
      case uninstalling -> Phase.Uninstalling;
      case uninstalled -> Phase.Uninstalled;
    };
  }

  /** Status of the active KataConfig while installed (not being deleted). */
  public static KataConfigStatus installed(
      KataConfig kc, Plan plan, Collection<String> published, Instant now) {
    KataConfigStatus st = counted(kc, plan, published);
    long gen = generation(kc);
    int selected = st.selectedNodes;
    List<Condition> next = new ArrayList<>();
    List<String> notDone =
        st.nodes.stream()
            .filter(n -> n.phase != Phase.Failed && !(n.phase == Phase.Installed && n.upToDate))
            .map(n -> n.name)
            .toList();
    List<String> failed =
        st.nodes.stream()
            .filter(n -> n.phase == Phase.Failed)
            .map(n -> n.name + (n.message == null ? "" : " (" + n.message + ")"))
            .toList();
    if (selected == 0) {
      next.add(
          Conditions.of(
              READY,
              false,
              "NoNodesSelected",
              "no Linux node matches spec.nodeSelector and tolerates the node taints",
              gen));
    } else if (st.installedNodes == selected) {
      next.add(
          Conditions.of(
              READY,
              true,
              "Installed",
              "Kata is installed on all "
                  + selected
                  + " selected node(s); RuntimeClasses: "
                  + String.join(", ", st.runtimeClasses),
              gen));
    } else {
      next.add(
          Conditions.of(
              READY,
              false,
              failed.isEmpty() ? "Installing" : "NodesFailed",
              st.installedNodes + " of " + selected + " selected node(s) installed",
              gen));
    }
    next.add(
        notDone.isEmpty()
            ? Conditions.of(PROGRESSING, false, "Complete", "no node is being installed", gen)
            : Conditions.of(
                PROGRESSING,
                true,
                "Installing",
                "waiting for the installer on " + names(notDone),
                gen));
    next.add(
        failed.isEmpty()
            ? Conditions.of(DEGRADED, false, "AsExpected", "no node reported a failure", gen)
            : Conditions.of(
                DEGRADED, true, "NodesFailed", "installation failed on " + names(failed), gen));
    st.conditions = Conditions.merge(previousConditions(kc), next, now);
    return st;
  }

  /** Status of a KataConfig refused because {@code active} is the cluster's KataConfig. */
  public static KataConfigStatus refused(KataConfig kc, String active, Instant now) {
    KataConfigStatus st = new KataConfigStatus();
    long gen = generation(kc);
    st.observedGeneration = gen;
    String msg =
        "only one KataConfig is acted on per cluster and '"
            + active
            + "' is it; delete this one (or that one, and this one takes over)";
    st.conditions =
        Conditions.merge(
            previousConditions(kc),
            List.of(
                Conditions.of(READY, false, "Refused", msg, gen),
                Conditions.of(PROGRESSING, false, "Refused", msg, gen),
                Conditions.of(DEGRADED, true, "DuplicateKataConfig", msg, gen)),
            now);
    return st;
  }

  /**
   * Status after a reconciliation failed (e.g. an API call was refused): the previous counts stay,
   * Degraded says why.
   */
  public static KataConfigStatus failed(KataConfig kc, String cause, Instant now) {
    KataConfigStatus st = kc.getStatus() == null ? new KataConfigStatus() : copy(kc.getStatus());
    long gen = generation(kc);
    List<Condition> next = new ArrayList<>();
    for (Condition c : st.conditions) {
      if (!DEGRADED.equals(c.getType())) {
        next.add(c);
      }
    }
    next.add(Conditions.of(DEGRADED, true, "ReconcileError", cause, gen));
    if (Conditions.find(next, READY).isEmpty()) {
      next.add(0, Conditions.of(READY, false, "ReconcileError", cause, gen));
    }
    st.conditions = Conditions.merge(previousConditions(kc), next, now);
    return st;
  }

  private static KataConfigStatus copy(KataConfigStatus s) {
    return io.fabric8.kubernetes.client.utils.Serialization.unmarshal(
        io.fabric8.kubernetes.client.utils.Serialization.asJson(s), KataConfigStatus.class);
  }

  /** Status while deletion waits for pods that use the RuntimeClasses. */
  public static KataConfigStatus waitingForPods(
      KataConfig kc, Plan plan, Collection<String> published, List<String> pods, Instant now) {
    KataConfigStatus st = counted(kc, plan, published);
    long gen = generation(kc);
    String msg =
        "uninstall waits for "
            + pods.size()
            + " pod(s) using Kata RuntimeClasses: "
            + names(pods)
            + "; delete them, or set spec.uninstall.force to true";
    st.conditions =
        Conditions.merge(
            previousConditions(kc),
            List.of(
                Conditions.of(READY, false, "Uninstalling", "KataConfig is being deleted", gen),
                Conditions.of(PROGRESSING, true, "WaitingForPods", msg, gen),
                degradedFromNodes(st, gen)),
            now);
    return st;
  }

  /** Status while the installers revert the nodes. */
  public static KataConfigStatus uninstalling(
      KataConfig kc, Plan plan, Collection<String> published, List<String> waiting, Instant now) {
    KataConfigStatus st = counted(kc, plan, published);
    long gen = generation(kc);
    String msg =
        waiting.isEmpty()
            ? "every node is reverted; removing RuntimeClasses and the installer"
            : "waiting for the installer to revert " + names(waiting);
    st.conditions =
        Conditions.merge(
            previousConditions(kc),
            List.of(
                Conditions.of(READY, false, "Uninstalling", "KataConfig is being deleted", gen),
                Conditions.of(PROGRESSING, true, "Uninstalling", msg, gen),
                degradedFromNodes(st, gen)),
            now);
    return st;
  }

  private static Condition degradedFromNodes(KataConfigStatus st, long gen) {
    List<String> failed =
        st.nodes.stream()
            .filter(n -> n.phase == Phase.Failed)
            .map(n -> n.name + (n.message == null ? "" : " (" + n.message + ")"))
            .toList();
    return failed.isEmpty()
        ? Conditions.of(DEGRADED, false, "AsExpected", "no node reported a failure", gen)
        : Conditions.of(DEGRADED, true, "NodesFailed", "failed on " + names(failed), gen);
  }

  /** Everything but the conditions. */
  static KataConfigStatus counted(KataConfig kc, Plan plan, Collection<String> published) {
    KataConfigStatus st = new KataConfigStatus();
    st.observedGeneration = generation(kc);
    st.installerImage = plan.settings().image();
    st.runtimeClasses = published.stream().sorted().toList();
    for (Map.Entry<String, NodeReport> e : plan.selected().entrySet()) {
      NodeStatus n = nodeStatus(e.getKey(), e.getValue(), plan.configHash());
      st.nodes.add(n);
      switch (n.phase) {
        case Pending -> st.pendingNodes++;
        case Installing -> st.installingNodes++;
        case Installed -> {
          if (n.upToDate) {
            st.installedNodes++;
          } else {
            st.installingNodes++;
          }
        }
        case Failed -> st.failedNodes++;
        case Uninstalling -> st.uninstallingNodes++;
        case Uninstalled -> st.pendingNodes++;
      }
    }
    st.selectedNodes = plan.selected().size();
    return st;
  }

  static String names(List<String> names) {
    String shown = names.stream().limit(NAMES_IN_MESSAGE).collect(Collectors.joining(", "));
    return names.size() > NAMES_IN_MESSAGE
        ? shown + " and " + (names.size() - NAMES_IN_MESSAGE) + " more"
        : shown;
  }

  private static long generation(KataConfig kc) {
    Long g = kc.getMetadata().getGeneration();
    return g == null ? 0 : g;
  }

  private static List<Condition> previousConditions(KataConfig kc) {
    return kc.getStatus() == null ? List.of() : kc.getStatus().conditions;
  }
}
