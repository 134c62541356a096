package dev.kataoperator.operator.installer;

import static dev.kataoperator.contract.InstallerContract.*;

import dev.kataoperator.contract.InstallerContract.Mode;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The runtime-node-installer DaemonSet, as a pure function of the settings and the mode. */
public final class InstallerDaemonSet {
  private InstallerDaemonSet() {}

  public static final String CONTAINER = "installer";
  public static final String PRIORITY_CLASS = "system-node-critical";

  /** Annotation on the pod template: a change rolls the pods. */
  public static final String TEMPLATE_HASH_ANNOTATION = PREFIX + "config-hash";

  /** Seconds a stopping installer gets to decide and, if it must, revert its node. */
  public static final long TERMINATION_GRACE_SECONDS = 120;

  /**
   * The installer enters the host's namespaces through PID 1's ({@code nsenter -t 1}). Clusters
   * whose PID 1 hides its namespaces (the project's own test machines, docs/e2e.md) name another
   * host process in the operator's environment; the installer pods get the same value.
   */
  static final java.util.Optional<String> HOST_NAMESPACES_PID =
      java.util.Optional.ofNullable(System.getenv(ENV_HOST_PID))
          .filter(v -> v.matches("[1-9][0-9]{0,9}"));

  /** While uninstalling every node reverts at once: no kata pods are left to protect. */
  public static final IntOrString UNINSTALL_MAX_UNAVAILABLE = new IntOrString("100%");

  public static DaemonSet build(InstallerSettings s, String namespace, Mode mode) {
    String hash = s.hash(mode);
    Map<String, String> podLabels = new LinkedHashMap<>(InstallerResources.labels());
    return new DaemonSetBuilder()
        .withMetadata(InstallerResources.meta(InstallerResources.NAME, namespace))
        .withNewSpec()
        .withNewSelector()
        .withMatchLabels(InstallerResources.selectorLabels())
        .endSelector()
        .withNewUpdateStrategy()
        .withType("RollingUpdate")
        .withNewRollingUpdate()
        .withMaxUnavailable(mode == Mode.uninstall ? UNINSTALL_MAX_UNAVAILABLE : s.maxUnavailable())
        .withMaxSurge(new IntOrString(0))
        .endRollingUpdate()
        .endUpdateStrategy()
        .withNewTemplate()
        .withNewMetadata()
        .withLabels(podLabels)
        .withAnnotations(Map.of(TEMPLATE_HASH_ANNOTATION, hash))
        .endMetadata()
        .withNewSpec()
        .withServiceAccountName(InstallerResources.NAME)
        .withPriorityClassName(PRIORITY_CLASS)
        .withHostPID(true)
        .withTerminationGracePeriodSeconds(TERMINATION_GRACE_SECONDS)
        .withNewAffinity()
        .withNodeAffinity(NodeSelection.nodeAffinity(s.nodeSelector()))
        .endAffinity()
        .withTolerations(s.tolerations())
        .withImagePullSecrets(s.imagePullSecrets().stream().map(LocalObjectReference::new).toList())
        .addNewContainer()
        .withName(CONTAINER)
        .withImage(s.image())
        .withImagePullPolicy(s.imagePullPolicy())
        .withEnv(env(s, namespace, mode, hash))
        .withNewSecurityContext()
        .withPrivileged(true)
        .withRunAsUser(0L)
        .endSecurityContext()
        .withNewResources()
        .withRequests(Map.of("cpu", new Quantity("50m"), "memory", new Quantity("64Mi")))
        .endResources()
        .withNewReadinessProbe()
        .withNewExec()
        .withCommand("test", "-f", READY_FILE)
        .endExec()
        .withPeriodSeconds(5)
        .endReadinessProbe()
        .withVolumeMounts(mounts(s))
        .endContainer()
        .withVolumes(volumes(s))
        .endSpec()
        .endTemplate()
        .endSpec()
        .build();
  }

  static List<EnvVar> env(InstallerSettings s, String namespace, Mode mode, String hash) {
    List<EnvVar> env = new ArrayList<>();
    env.add(
        new EnvVarBuilder()
            .withName(ENV_NODE_NAME)
            .withNewValueFrom()
            .withNewFieldRef()
            .withFieldPath("spec.nodeName")
            .endFieldRef()
            .endValueFrom()
            .build());
    env.add(new EnvVar(ENV_MODE, mode.name(), null));
    env.add(new EnvVar(ENV_NAMESPACE, namespace, null));
    env.add(new EnvVar(ENV_DAEMONSET, InstallerResources.NAME, null));
    env.add(new EnvVar(ENV_CONFIG_NAME, s.kataConfigName(), null));
    env.add(new EnvVar(ENV_CONFIG_HASH, hash, null));
    env.add(new EnvVar(ENV_INSTALLER_IMAGE, s.image(), null));
    env.add(new EnvVar(ENV_RUNTIME_CLASSES, s.runtimeClassesEnv(), null));
    env.add(new EnvVar(ENV_VIRTUALIZATION_POLICY, s.virtualization(), null));
    env.add(new EnvVar(ENV_CONTAINERD_FLAVOR, s.containerdFlavor(), null));
    if (s.containerd().configPath != null) {
      env.add(new EnvVar(ENV_CONTAINERD_CONFIG, s.containerd().configPath, null));
    }
    env.add(new EnvVar(ENV_CONTAINERD_RESTART, s.containerdRestart(), null));
    if (s.containerd().restartCommand != null && !s.containerd().restartCommand.isEmpty()) {
      env.add(
          new EnvVar(
              ENV_CONTAINERD_RESTART_COMMAND,
              String.join("\n", s.containerd().restartCommand),
              null));
    }
    env.add(new EnvVar(ENV_LOG_LEVEL, s.logLevel(), null));
    env.add(new EnvVar(ENV_HOST_ROOT, HOST_ROOT, null));
    HOST_NAMESPACES_PID.ifPresent(pid -> env.add(new EnvVar(ENV_HOST_PID, pid, null)));
    return env;
  }

  /** Host paths to mount: the fixed ones, plus the directory of a custom containerd config. */
  static List<String> hostPaths(InstallerSettings s) {
    List<String> paths = new ArrayList<>(HOST_PATHS);
    String config = s.containerd().configPath;
    if (config != null) {
      Path dir = Path.of(config).getParent();
      if (dir != null && paths.stream().noneMatch(p -> dir.startsWith(Path.of(p)))) {
        paths.add(dir.toString());
      }
    }
    return paths;
  }

  static String volumeName(String hostPath) {
    String n = "host" + hostPath.replaceAll("[^a-z0-9]+", "-");
    return n.length() > 63 ? n.substring(0, 63).replaceAll("-$", "") : n;
  }

  static List<VolumeMount> mounts(InstallerSettings s) {
    List<VolumeMount> mounts = new ArrayList<>();
    for (String p : hostPaths(s)) {
      mounts.add(
          new VolumeMountBuilder()
              .withName(volumeName(p))
              .withMountPath(HOST_ROOT + p)
              // No propagation: HostToContainer needs the host's / to be a shared or slave
              // mount, which not every node has; the installer needs the files, not later mounts.
              .build());
    }
    mounts.add(
        new VolumeMountBuilder()
            .withName("ready")
            .withMountPath(Path.of(READY_FILE).getParent().toString())
            .build());
    return mounts;
  }

  static List<Volume> volumes(InstallerSettings s) {
    List<Volume> volumes = new ArrayList<>();
    for (String p : hostPaths(s)) {
      volumes.add(
          new VolumeBuilder()
              .withName(volumeName(p))
              .withNewHostPath()
              .withPath(p)
              .withType("DirectoryOrCreate")
              .endHostPath()
              .build());
    }
    volumes.add(new VolumeBuilder().withName("ready").withNewEmptyDir().endEmptyDir().build());
    return volumes;
  }
}
