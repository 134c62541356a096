package dev.kataoperator.operator.reconciler;

import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.contract.InstallerContract.NodeReport;
import dev.kataoperator.contract.InstallerContract.RuntimeState;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigStatus;
import dev.kataoperator.operator.config.OperatorConfig;
import dev.kataoperator.operator.dependent.InstallerClusterRoleBindingDependent;
import dev.kataoperator.operator.dependent.InstallerClusterRoleDependent;
import dev.kataoperator.operator.dependent.InstallerDaemonSetDependent;
import dev.kataoperator.operator.dependent.InstallerNodePolicyBindingDependent;
import dev.kataoperator.operator.dependent.InstallerNodePolicyDependent;
import dev.kataoperator.operator.dependent.InstallerRoleBindingDependent;
import dev.kataoperator.operator.dependent.InstallerRoleDependent;
import dev.kataoperator.operator.dependent.InstallerServiceAccountDependent;
import dev.kataoperator.operator.dependent.Plans;
import dev.kataoperator.operator.dependent.RuntimeClassesDependent;
import dev.kataoperator.operator.installer.InstallerDaemonSet;
import dev.kataoperator.operator.installer.InstallerResources;
import dev.kataoperator.operator.installer.Plan;
import dev.kataoperator.operator.status.KataEvents;
import dev.kataoperator.operator.status.KataMetrics;
import dev.kataoperator.operator.status.StatusAggregator;
import dev.kataoperator.operator.status.Transitions;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicy;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.ValidatingAdmissionPolicyBinding;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.ErrorStatusUpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.jboss.logging.Logger;

/**
 * Reconciles the cluster's KataConfig: decides a {@link Plan}, lets the workflow of dependents
 * bring the installer (ServiceAccount, RBAC, DaemonSet) and the RuntimeClasses to it, and writes
 * the status. The workflow is invoked explicitly so that a refused (second) KataConfig never
 * touches the resources of the active one.
 */
@ControllerConfiguration(name = KataConfigReconciler.NAME)
@Workflow(
    explicitInvocation = true,
    dependents = {
      @Dependent(name = "installer-serviceaccount", type = InstallerServiceAccountDependent.class),
      @Dependent(name = "installer-clusterrole", type = InstallerClusterRoleDependent.class),
      @Dependent(
          name = "installer-clusterrolebinding",
          type = InstallerClusterRoleBindingDependent.class,
          dependsOn = {"installer-serviceaccount", "installer-clusterrole"}),
      @Dependent(name = "installer-role", type = InstallerRoleDependent.class),
      @Dependent(
          name = "installer-rolebinding",
          type = InstallerRoleBindingDependent.class,
          dependsOn = {"installer-serviceaccount", "installer-role"}),
      @Dependent(name = "installer-node-policy", type = InstallerNodePolicyDependent.class),
      @Dependent(
          name = "installer-node-policy-binding",
          type = InstallerNodePolicyBindingDependent.class,
          dependsOn = "installer-node-policy"),
      @Dependent(
          name = "installer-daemonset",
          type = InstallerDaemonSetDependent.class,
          dependsOn = {
            "installer-clusterrolebinding",
            "installer-rolebinding",
            "installer-node-policy-binding"
          }),
      @Dependent(name = "runtimeclasses", type = RuntimeClassesDependent.class)
    })
public class KataConfigReconciler implements Reconciler<KataConfig>, Cleaner<KataConfig> {
  public static final String NAME = "kataconfig";
  static final String NODES = "nodes";
  private static final Logger LOG = Logger.getLogger(KataConfigReconciler.class);

  private final OperatorConfig config;
  private final KataEvents events;
  private final KataMetrics metrics;

  public KataConfigReconciler(OperatorConfig config, KataEvents events, KataMetrics metrics) {
    this.config = config;
    this.events = events;
    this.metrics = metrics;
  }

  @Override
  public List<EventSource<?, KataConfig>> prepareEventSources(
      EventSourceContext<KataConfig> context) {
    // Every node may concern the KataConfig (selection, reports): map each to all of them, and
    // wake up only for what the operator reads (labels, annotations, taints).
    var nodes =
        InformerEventSourceConfiguration.from(Node.class, KataConfig.class)
            .withName(NODES)
            .withSecondaryToPrimaryMapper(
                node ->
                    context
                        .getPrimaryCache()
                        .list()
                        .map(ResourceID::fromResource)
                        .collect(Collectors.toSet()))
            .withOnUpdateFilter(
                (newNode, oldNode) ->
                    !Objects.equals(
                            newNode.getMetadata().getLabels(), oldNode.getMetadata().getLabels())
                        || !Objects.equals(
                            newNode.getMetadata().getAnnotations(),
                            oldNode.getMetadata().getAnnotations())
                        || !Objects.equals(newNode.getSpec(), oldNode.getSpec()))
            .build();
    return List.of(new InformerEventSource<>(nodes, context));
  }

  @Override
  public UpdateControl<KataConfig> reconcile(KataConfig kc, Context<KataConfig> context) {
    Optional<String> active = activeOther(kc, context);
    if (active.isPresent()) {
      metrics.reconciled("refused");
      KataConfigStatus st = StatusAggregator.refused(kc, active.get(), Instant.now());
      return withStatus(kc, st).rescheduleAfter(config.refusedRecheck().toMillis());
    }
    Plan plan =
        Plan.compute(
            kc, nodes(context), namespace(context), config.defaultInstallerImage(), Mode.install);
    Plans.put(context, plan);
    context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
    List<String> published = plan.runtimeClasses().stream().map(rc -> name(rc)).toList();
    KataConfigStatus st = StatusAggregator.installed(kc, plan, published, Instant.now());
    metrics.observe(st);
    metrics.reconciled("installed");
    return withStatus(kc, st);
  }

  /** A failed reconciliation (after the SDK's retries) shows as Degraded with its cause. */
  @Override
  public ErrorStatusUpdateControl<KataConfig> updateErrorStatus(
      KataConfig kc, Context<KataConfig> context, Exception e) {
    metrics.reconciled("error");
    LOG.errorf(e, "reconciling KataConfig %s failed", kc.getMetadata().getName());
    KataConfigStatus st = StatusAggregator.failed(kc, rootCause(e), Instant.now());
    kc.setStatus(st);
    return ErrorStatusUpdateControl.patchStatus(kc);
  }

  static String rootCause(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    return msg.length() > 500 ? msg.substring(0, 500) + "..." : msg;
  }

  @Override
  public DeleteControl cleanup(KataConfig kc, Context<KataConfig> context) {
    if (activeOther(kc, context).isPresent()) {
      // A refused KataConfig owns nothing.
      return DeleteControl.defaultDelete();
    }
    KubernetesClient client = context.getClient();
    Plan plan =
        Plan.compute(
            kc, nodes(context), namespace(context), config.defaultInstallerImage(), Mode.uninstall);
    List<String> published =
        context.getSecondaryResources(RuntimeClass.class).stream().map(rc -> name(rc)).toList();

    if (!plan.settings().forceUninstall()) {
      List<String> pods = podsUsing(client, plan.allRuntimeClassNames());
      if (!pods.isEmpty()) {
        metrics.reconciled("waiting-for-pods");
        patchStatus(
            kc, StatusAggregator.waitingForPods(kc, plan, published, pods, Instant.now()), context);
        return DeleteControl.noFinalizerRemoval()
            .rescheduleAfter(config.uninstallRecheck().toMillis());
      }
    }

    List<String> waiting =
        plan.selected().entrySet().stream()
            .filter(e -> stillInstalled(e.getValue()))
            .map(Map.Entry::getKey)
            .toList();
    if (!waiting.isEmpty()) {
      applyUninstallMode(kc, plan, context);
      metrics.reconciled("uninstalling");
      patchStatus(
          kc, StatusAggregator.uninstalling(kc, plan, published, waiting, Instant.now()), context);
      return DeleteControl.noFinalizerRemoval()
          .rescheduleAfter(config.uninstallRecheck().toMillis());
    }

    deleteEverything(client, plan);
    clearNodes(client, context);
    metrics.cleared();
    metrics.reconciled("deleted");
    events.emit(
        kc,
        new Transitions.Event(
            false, "Uninstalled", "every node is reverted; RuntimeClasses and installer removed"));
    LOG.infof("KataConfig %s uninstalled", kc.getMetadata().getName());
    return DeleteControl.defaultDelete();
  }

  /** A node the installer still has to revert: it reported something other than uninstalled. */
  static boolean stillInstalled(NodeReport r) {
    return r.state().isPresent() && r.state().get() != RuntimeState.uninstalled;
  }

  /**
   * The name of the KataConfig acted on, when it is not {@code kc}: the oldest one (by creation,
   * then name) is the cluster's, including while it is being deleted.
   */
  static Optional<String> activeOther(KataConfig kc, Context<KataConfig> context) {
    List<KataConfig> all = new ArrayList<>(context.getPrimaryCache().list().toList());
    if (all.stream().noneMatch(k -> k.getMetadata().getName().equals(kc.getMetadata().getName()))) {
      all.add(kc);
    }
    return oldest(all)
        .map(k -> k.getMetadata().getName())
        .filter(n -> !n.equals(kc.getMetadata().getName()));
  }

  static Optional<KataConfig> oldest(Collection<KataConfig> all) {
    return all.stream()
        .min(
            Comparator.comparing(
                    (KataConfig k) ->
                        Optional.ofNullable(k.getMetadata().getCreationTimestamp())
                            .map(Instant::parse)
                            .orElse(Instant.MAX))
                .thenComparing(k -> k.getMetadata().getName()));
  }

  /** The operator's namespace: the client's current one (the pod's own in a cluster). */
  static String namespace(Context<KataConfig> context) {
    return Optional.ofNullable(context.getClient().getNamespace()).orElse("kata-operator-system");
  }

  @SuppressWarnings("unchecked")
  static Collection<Node> nodes(Context<KataConfig> context) {
    var source =
        (InformerEventSource<Node, KataConfig>)
            context.eventSourceRetriever().getEventSourceFor(Node.class, NODES);
    return source.list().toList();
  }

  private UpdateControl<KataConfig> withStatus(KataConfig kc, KataConfigStatus st) {
    KataConfigStatus before = kc.getStatus();
    if (before != null && Serialization.asJson(before).equals(Serialization.asJson(st))) {
      return UpdateControl.noUpdate();
    }
    events.emit(kc, Transitions.between(before, st));
    kc.setStatus(st);
    return UpdateControl.patchStatus(kc);
  }

  private void patchStatus(KataConfig kc, KataConfigStatus st, Context<KataConfig> context) {
    KataConfigStatus before = kc.getStatus();
    if (before != null && Serialization.asJson(before).equals(Serialization.asJson(st))) {
      return;
    }
    events.emit(kc, Transitions.between(before, st));
    KataConfig patch = new KataConfig();
    patch.setMetadata(
        new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
            .withName(kc.getMetadata().getName())
            .build());
    patch.setStatus(st);
    context.resourceOperations().serverSideApplyPrimaryStatus(patch);
  }

  /** Switches the installers to uninstall mode (same field manager as the dependent). */
  private void applyUninstallMode(KataConfig kc, Plan plan, Context<KataConfig> context) {
    DaemonSet current = context.getSecondaryResource(DaemonSet.class).orElse(null);
    String hash =
        current == null
            ? null
            : current
                .getSpec()
                .getTemplate()
                .getMetadata()
                .getAnnotations()
                .get(InstallerDaemonSet.TEMPLATE_HASH_ANNOTATION);
    if (plan.configHash().equals(hash)) {
      return;
    }
    DaemonSet ds = plan.daemonSet();
    ds.addOwnerReference(kc);
    LOG.infof("KataConfig %s: installers to uninstall mode", kc.getMetadata().getName());
    context
        .getClient()
        .resource(ds)
        .fieldManager(context.getControllerConfiguration().fieldManager())
        .forceConflicts()
        .serverSideApply();
  }

  /** "namespace/name" of running or pending pods whose runtimeClassName is one of {@code names}. */
  static List<String> podsUsing(KubernetesClient client, Set<String> names) {
    List<String> found = new ArrayList<>();
    String cont = null;
    do {
      PodList page =
          client
              .pods()
              .inAnyNamespace()
              .list(new ListOptionsBuilder().withLimit(500L).withContinue(cont).build());
      for (Pod p : page.getItems()) {
        String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
        if (p.getSpec() != null
            && names.contains(p.getSpec().getRuntimeClassName())
            && !"Succeeded".equals(phase)
            && !"Failed".equals(phase)) {
          found.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName());
        }
      }
      cont = page.getMetadata() == null ? null : page.getMetadata().getContinue();
    } while (cont != null && !cont.isEmpty());
    found.sort(null);
    return found;
  }

  private void deleteEverything(KubernetesClient client, Plan plan) {
    String ns = plan.namespace();
    String sel = InstallerResources.MANAGED_SELECTOR;
    client.resources(RuntimeClass.class).withLabelSelector(sel).delete();
    client.apps().daemonSets().inNamespace(ns).withName(InstallerResources.NAME).delete();
    client.resources(RoleBinding.class).inNamespace(ns).withName(InstallerResources.NAME).delete();
    client.resources(Role.class).inNamespace(ns).withName(InstallerResources.NAME).delete();
    client.resources(ClusterRoleBinding.class).withName(InstallerResources.CLUSTER_ROLE).delete();
    client.resources(ClusterRole.class).withName(InstallerResources.CLUSTER_ROLE).delete();
    client
        .resources(ValidatingAdmissionPolicyBinding.class)
        .withName(InstallerResources.NODE_POLICY)
        .delete();
    client
        .resources(ValidatingAdmissionPolicy.class)
        .withName(InstallerResources.NODE_POLICY)
        .delete();
    client
        .resources(ServiceAccount.class)
        .inNamespace(ns)
        .withName(InstallerResources.NAME)
        .delete();
  }

  /** Removes the installer's reports from every node, so nothing of the KataConfig is left. */
  private void clearNodes(KubernetesClient client, Context<KataConfig> context) {
    for (Node n : nodes(context)) {
      if (!hasContractKeys(n)) {
        continue;
      }
      client
          .nodes()
          .withName(n.getMetadata().getName())
          .edit(
              node -> {
                Optional.ofNullable(node.getMetadata().getLabels())
                    .ifPresent(m -> m.keySet().removeIf(InstallerContract::isContractKey));
                Optional.ofNullable(node.getMetadata().getAnnotations())
                    .ifPresent(m -> m.keySet().removeIf(InstallerContract::isContractKey));
                return node;
              });
    }
  }

  private static boolean hasContractKeys(Node n) {
    return Optional.ofNullable(n.getMetadata().getLabels()).orElse(Map.of()).keySet().stream()
            .anyMatch(InstallerContract::isContractKey)
        || Optional.ofNullable(n.getMetadata().getAnnotations()).orElse(Map.of()).keySet().stream()
            .anyMatch(InstallerContract::isContractKey);
  }

  private static String name(HasMetadata r) {
    return r.getMetadata().getName();
  }
}
