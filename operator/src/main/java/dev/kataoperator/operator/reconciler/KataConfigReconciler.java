package dev.kataoperator.operator.reconciler;

import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.contract.InstallerContract.Mode;
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
import dev.kataoperator.operator.dependent.KataPodPolicyBindingDependent;
import dev.kataoperator.operator.dependent.KataPodPolicyDependent;
import dev.kataoperator.operator.dependent.NodesReverted;
import dev.kataoperator.operator.dependent.Plans;
import dev.kataoperator.operator.dependent.RuntimeClassesDependent;
import dev.kataoperator.operator.dependent.RuntimeClassesGone;
import dev.kataoperator.operator.installer.Plan;
import dev.kataoperator.operator.status.KataEvents;
import dev.kataoperator.operator.status.KataMetrics;
import dev.kataoperator.operator.status.StatusAggregator;
import dev.kataoperator.operator.status.StatusWriter;
import dev.kataoperator.operator.status.Transitions;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
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
import io.javaoperatorsdk.operator.processing.dependent.workflow.KubernetesResourceDeletedCondition;
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
 * Reconciles the cluster's KataConfig: decides a {@link Plan} and lets the workflow of dependents
 * bring the installer, the admission policies and the RuntimeClasses to it.
 *
 * <p>Install plan (reconcile): ServiceAccount, roles and the two admission policies first, then
 * their bindings, then the DaemonSet, then the RuntimeClasses (after the DaemonSet and the pod
 * policy binding, so no class is published before the policy guarding its pods).
 *
 * <p>Uninstall plan (cleanup), three steps: wait while pods use the classes (unless {@code
 * uninstall.force}); reconcile the workflow with the DaemonSet in uninstall mode until every node
 * is reverted ({@link NodesReverted} holds the RuntimeClasses meanwhile); then the workflow's
 * cleanup deletes every dependent in reverse order, each parent only once its dependents are gone
 * ({@link RuntimeClassesGone}, and the DaemonSet's delete postcondition), and the nodes' reports
 * are cleared last.
 *
 * <p>The workflow is invoked explicitly so that a refused (second) KataConfig never touches the
 * resources of the active one. Every status goes through {@link StatusWriter}.
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
          },
          readyPostcondition = NodesReverted.class,
          // The installer's RBAC and node policy go only once its DaemonSet is gone.
          deletePostcondition = KubernetesResourceDeletedCondition.class),
      @Dependent(name = "kata-pod-policy", type = KataPodPolicyDependent.class),
      @Dependent(
          name = "kata-pod-policy-binding",
          type = KataPodPolicyBindingDependent.class,
          dependsOn = "kata-pod-policy"),
      @Dependent(
          name = "runtimeclasses",
          type = RuntimeClassesDependent.class,
          dependsOn = {"installer-daemonset", "kata-pod-policy-binding"},
          deletePostcondition = RuntimeClassesGone.class)
    })
public class KataConfigReconciler implements Reconciler<KataConfig>, Cleaner<KataConfig> {
  public static final String NAME = "kataconfig";
  static final String NODES = "nodes";
  private static final Logger LOG = Logger.getLogger(KataConfigReconciler.class);

  private final OperatorConfig config;
  private final KataEvents events;
  private final KataMetrics metrics;
  private final StatusWriter status;

  public KataConfigReconciler(
      OperatorConfig config, KataEvents events, KataMetrics metrics, StatusWriter status) {
    this.config = config;
    this.events = events;
    this.metrics = metrics;
    this.status = status;
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
      status.write(kc, StatusAggregator.refused(kc, active.get(), Instant.now()), context);
      return UpdateControl.<KataConfig>noUpdate()
          .rescheduleAfter(config.refusedRecheck().toMillis());
    }
    Plan plan = plan(kc, context, Mode.install);
    context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
    List<String> published = plan.runtimeClasses().stream().map(rc -> name(rc)).toList();
    KataConfigStatus st = StatusAggregator.installed(kc, plan, published, Instant.now());
    status.write(kc, st, context);
    metrics.observe(st);
    metrics.reconciled("installed");
    return UpdateControl.noUpdate();
  }

  /** A failed reconciliation (after the SDK's retries) shows as Degraded with its cause. */
  @Override
  public ErrorStatusUpdateControl<KataConfig> updateErrorStatus(
      KataConfig kc, Context<KataConfig> context, Exception e) {
    metrics.reconciled("error");
    LOG.errorf(e, "reconciling KataConfig %s failed", kc.getMetadata().getName());
    try {
      status.write(kc, StatusAggregator.failed(kc, rootCause(e), Instant.now()), context);
    } catch (KubernetesClientException ex) {
      // The SDK retries the reconciliation either way; the cause is in the log above.
      LOG.warnf("could not record the failure on KataConfig %s: %s", name(kc), ex.getMessage());
    }
    return ErrorStatusUpdateControl.noStatusUpdate();
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
    Plan plan = plan(kc, context, Mode.uninstall);
    List<String> published =
        context.getSecondaryResources(RuntimeClass.class).stream().map(rc -> name(rc)).toList();
    Instant now = Instant.now();

    if (!plan.settings().forceUninstall()) {
      List<String> pods = podsUsing(context.getClient(), plan.allRuntimeClassNames());
      if (!pods.isEmpty()) {
        metrics.reconciled("waiting-for-pods");
        status.write(kc, StatusAggregator.waitingForPods(kc, plan, published, pods, now), context);
        return recheck();
      }
    }

    List<String> waiting = plan.nodesToRevert();
    if (!waiting.isEmpty()) {
      // Only while nodes are left: once all are reverted the cleanup below may have begun, and
      // reconciling again would recreate what it deleted.
      context.managedWorkflowAndDependentResourceContext().reconcileManagedWorkflow();
      metrics.reconciled("uninstalling");
      status.write(kc, StatusAggregator.uninstalling(kc, plan, published, waiting, now), context);
      return recheck();
    }

    if (!context
        .managedWorkflowAndDependentResourceContext()
        .cleanupManageWorkflow()
        .allPostConditionsMet()) {
      metrics.reconciled("uninstalling");
      status.write(kc, StatusAggregator.uninstalling(kc, plan, published, List.of(), now), context);
      return recheck();
    }
    clearNodes(context.getClient(), context);
    metrics.cleared();
    metrics.reconciled("deleted");
    events.emit(
        kc,
        new Transitions.Event(
            false, "Uninstalled", "every node is reverted; RuntimeClasses and installer removed"));
    LOG.infof("KataConfig %s uninstalled", name(kc));
    return DeleteControl.defaultDelete();
  }

  private Plan plan(KataConfig kc, Context<KataConfig> context, Mode mode) {
    Plan plan =
        Plan.compute(kc, nodes(context), namespace(context), config.defaultInstallerImage(), mode);
    Plans.put(context, plan);
    return plan;
  }

  private DeleteControl recheck() {
    return DeleteControl.noFinalizerRemoval().rescheduleAfter(config.uninstallRecheck().toMillis());
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

  /**
   * Whether {@code pod} is running or pending with one of the runtime classes {@code names}. Most
   * pods name no runtime class (runc): null is not a name (and a sorted set refuses to look it up).
   */
  static boolean uses(Pod pod, Set<String> names) {
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    String runtimeClass = pod.getSpec() == null ? null : pod.getSpec().getRuntimeClassName();
    return runtimeClass != null
        && names.contains(runtimeClass)
        && !"Succeeded".equals(phase)
        && !"Failed".equals(phase);
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
        if (uses(p, names)) {
          found.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName());
        }
      }
      cont = page.getMetadata() == null ? null : page.getMetadata().getContinue();
    } while (cont != null && !cont.isEmpty());
    found.sort(null);
    return found;
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
