package dev.kataoperator.contract;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The contract between the operator and the runtime-node-installer, defined here and nowhere else
 * (docs/operator.md describes it for people). Plain Java, no Kubernetes client types: the operator
 * writes the environment and parses the node report with it, the installer reads the environment
 * and writes the report with it.
 *
 * <p><b>Operator to installer</b>: the installer DaemonSet's container gets the {@code ENV_*}
 * variables below, and the host's file systems under {@link #HOST_ROOT}.
 *
 * <p><b>Installer to operator</b>: the installer writes, on its own Node only, the labels and
 * annotations below. It writes {@link #LABEL_STATE} last in each step, after the annotations that
 * explain it, so a reader never sees a state without its details.
 *
 * <ul>
 *   <li>{@code kataoperator.dev/runtime-state} (label): installing | installed | failed |
 *       uninstalling | uninstalled.
 *   <li>{@code kataoperator.dev/<runtime-class>} = {@code true} (label), one per runtime class that
 *       works on the node (e.g. {@code kataoperator.dev/kata-qemu=true}); absent otherwise. The
 *       RuntimeClass's scheduling.nodeSelector is exactly this label, so the installer removes it
 *       <em>before</em> it makes the class unusable (uninstall), and adds it only once the class
 *       works.
 *   <li>{@code kataoperator.dev/virtualization} (annotation): hardware | nested | pvm | none.
 *   <li>{@code kataoperator.dev/hypervisors} (annotation): comma-separated VMMs usable on the node,
 *       ({@code qemu} in this release).
 *   <li>{@code kataoperator.dev/payload-version} (annotation): the /opt/kata version installed.
 *   <li>{@code kataoperator.dev/message} (annotation): one line, the cause when failed.
 *   <li>{@code kataoperator.dev/config-hash} (annotation): the {@link #ENV_CONFIG_HASH} value the
 *       installer acted on; the operator counts a node up to date only when it equals the hash it
 *       put in the DaemonSet.
 *   <li>{@code kataoperator.dev/installer-image} (annotation): {@link #ENV_INSTALLER_IMAGE}.
 * </ul>
 *
 * <p><b>Reverting</b>: the installer reverts its node only in {@link Mode#uninstall} mode, which
 * the operator sets on deletion, or when its pod is stopped while its DaemonSet no longer selects
 * the node (or is gone). A pod stopped while the DaemonSet still selects the node (a rolling update
 * to a newer installer, a restart) leaves the node installed.
 */
public final class InstallerContract {

  private InstallerContract() {}

  /** Prefix of every label and annotation of the contract. */
  public static final String PREFIX = "kataoperator.dev/";

  // --- labels and annotations the installer writes on its Node ---------------------------
  public static final String LABEL_STATE = PREFIX + "runtime-state";
  public static final String ANNOTATION_VIRTUALIZATION = PREFIX + "virtualization";
  public static final String ANNOTATION_HYPERVISORS = PREFIX + "hypervisors";
  public static final String ANNOTATION_PAYLOAD_VERSION = PREFIX + "payload-version";
  public static final String ANNOTATION_MESSAGE = PREFIX + "message";
  public static final String ANNOTATION_CONFIG_HASH = PREFIX + "config-hash";
  public static final String ANNOTATION_INSTALLER_IMAGE = PREFIX + "installer-image";

  /** The label that says runtime class {@code runtimeClass} works on the node. */
  public static String runtimeClassLabel(String runtimeClass) {
    return PREFIX + runtimeClass;
  }

  /** Value of a runtime class label. */
  public static final String LABEL_TRUE = "true";

  // --- what the operator gives the installer ----------------------------------------------
  /** {@link Mode}: install (default) or uninstall. */
  public static final String ENV_MODE = "KATA_INSTALLER_MODE";

  /** The node the pod runs on (downward API spec.nodeName): the only Node it may patch. */
  public static final String ENV_NODE_NAME = "NODE_NAME";

  /** Namespace and name of the installer's own DaemonSet (for the stop-time check). */
  public static final String ENV_NAMESPACE = "KATA_INSTALLER_NAMESPACE";

  public static final String ENV_DAEMONSET = "KATA_INSTALLER_DAEMONSET";

  /**
   * Name of the KataConfig, and the hash of the settings the installer acts on (to echo back in
   * {@link #ANNOTATION_CONFIG_HASH}). A hash rather than the KataConfig's generation: settings that
   * do not concern the installer (rollout, tolerations) must not restart installers.
   */
  public static final String ENV_CONFIG_NAME = "KATA_CONFIG_NAME";

  public static final String ENV_CONFIG_HASH = "KATA_CONFIG_HASH";
  public static final String ENV_INSTALLER_IMAGE = "KATA_INSTALLER_IMAGE";

  /**
   * Runtime classes to install: comma-separated {@code name=hypervisor}, e.g. {@code
   * kata-qemu=qemu}.
   */
  public static final String ENV_RUNTIME_CLASSES = "KATA_RUNTIME_CLASSES";

  /** spec.virtualization: RequireHardware or AllowSoftwareEmulation. */
  public static final String ENV_VIRTUALIZATION_POLICY = "KATA_VIRTUALIZATION_POLICY";

  /** spec.containerd: flavor (auto|containerd|k3s|rke2), config path, restart method. */
  public static final String ENV_CONTAINERD_FLAVOR = "KATA_CONTAINERD_FLAVOR";

  public static final String ENV_CONTAINERD_CONFIG = "KATA_CONTAINERD_CONFIG";
  public static final String ENV_CONTAINERD_RESTART = "KATA_CONTAINERD_RESTART";

  /** restartCommand, one argument per line. */
  public static final String ENV_CONTAINERD_RESTART_COMMAND = "KATA_CONTAINERD_RESTART_COMMAND";

  public static final String ENV_LOG_LEVEL = "KATA_LOG_LEVEL";

  /** Where the host's root is mounted in the installer's container ({@link #HOST_ROOT}). */
  public static final String ENV_HOST_ROOT = "HOST_ROOT";

  /**
   * The host process whose namespaces the installer enters to act on the node (default 1). Set only
   * where PID 1 hides its namespaces; the operator passes on its own value.
   */
  public static final String ENV_HOST_PID = "KATA_INSTALLER_HOST_PID";

  /**
   * The installer creates this file once its node is in the final state of its mode (installed or
   * uninstalled): the pod's readiness probe tests it, so a rolling update moves on to the next node
   * only when this one is done. It is on an emptyDir, so every new pod starts not ready.
   */
  public static final String READY_FILE = "/run/kata-installer/ready";

  /** Where the host's file system is mounted in the installer container. */
  public static final String HOST_ROOT = "/host";

  /**
   * Host paths mounted (read-write) under {@link #HOST_ROOT}, the same path below it. {@code /opt}
   * rather than {@code /opt/kata}: a mount point cannot be removed, and uninstall removes {@code
   * /opt/kata} itself (the pod is privileged with hostPID, so this shows it nothing new).
   */
  public static final List<String> HOST_PATHS =
      List.of(
          "/opt",
          "/etc/containerd",
          "/var/lib/rancher",
          "/run/systemd",
          "/var/run/dbus",
          "/usr/local/bin");

  // --- the installer image's layout (the image builder and the installer agree on it) -------

  /**
   * The node payload in the image: the same tree as {@code make payload}'s build/payload ({@code
   * versions/<v>/...}, {@code current -> versions/<v>}, {@code bin/}).
   */
  public static final String IMAGE_PAYLOAD = "/payload";

  /**
   * The payload's manifest, relative to {@link #IMAGE_PAYLOAD}: {@code sha256sum} output with paths
   * relative to the payload, one line for every regular file and symbolic link under {@code
   * versions/<v>/} (a link is listed with the digest of what it points to, as sha256sum reads it).
   */
  public static final String IMAGE_MANIFEST = "MANIFEST.sha256";

  /** The installer's jars (its own and its dependencies). */
  public static final String IMAGE_LIB = "/installer/lib";

  /** The image's entrypoint: runs the installer on the payload's own JRE. */
  public static final String IMAGE_ENTRYPOINT = "/installer/bin/runtime-node-installer";

  /**
   * One entry of {@link #ENV_RUNTIME_CLASSES}: a runtime class (its name is also the CRI handler's)
   * and the hypervisor it runs.
   */
  public record RuntimeClassEntry(String name, Hypervisor hypervisor) {
    private static final java.util.regex.Pattern DNS_LABEL =
        java.util.regex.Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");

    public RuntimeClassEntry {
      if (!DNS_LABEL.matcher(name).matches()) {
        throw new IllegalArgumentException(
            "runtime class name must be a DNS label (a-z, 0-9, '-'): '" + name + "'");
      }
      if (name.equals("runtime-state")) {
        throw new IllegalArgumentException("'runtime-state' is reserved for the state label");
      }
    }

    /** {@code name=hypervisor}. */
    @Override
    public String toString() {
      return name + "=" + hypervisor.name();
    }
  }

  /**
   * Parses {@link #ENV_RUNTIME_CLASSES}: comma-separated {@code name=hypervisor}, at least one, no
   * name twice. Blanks around entries are ignored.
   */
  public static List<RuntimeClassEntry> parseRuntimeClasses(String value) {
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException(ENV_RUNTIME_CLASSES + " names no runtime class");
    }
    List<RuntimeClassEntry> out = new java.util.ArrayList<>();
    for (String item : value.split(",")) {
      String e = item.strip();
      int eq = e.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException(
            ENV_RUNTIME_CLASSES + ": '" + e + "' is not name=hypervisor");
      }
      var entry =
          new RuntimeClassEntry(
              e.substring(0, eq).strip(), Hypervisor.parse(e.substring(eq + 1).strip()));
      if (out.stream().anyMatch(c -> c.name().equals(entry.name()))) {
        throw new IllegalArgumentException(
            ENV_RUNTIME_CLASSES + ": runtime class '" + entry.name() + "' twice");
      }
      out.add(entry);
    }
    return List.copyOf(out);
  }

  /** The inverse of {@link #parseRuntimeClasses}. */
  public static String formatRuntimeClasses(List<RuntimeClassEntry> classes) {
    return String.join(",", classes.stream().map(RuntimeClassEntry::toString).toList());
  }

  /** Installer modes. */
  public enum Mode {
    install,
    uninstall
  }

  /** Values of {@link #LABEL_STATE}. */
  public enum RuntimeState {
    installing,
    installed,
    failed,
    uninstalling,
    uninstalled;

    public static Optional<RuntimeState> parse(String value) {
      return Arrays.stream(values()).filter(s -> s.name().equals(value)).findFirst();
    }
  }

  /**
   * What one node's installer reported. {@code state} is empty when the node carries no (or an
   * unknown) state label; {@code runtimeClasses} are the classes whose label is {@code true}.
   */
  public record NodeReport(
      Optional<RuntimeState> state,
      Set<String> runtimeClasses,
      Optional<Virtualization> virtualization,
      Set<String> hypervisors,
      Optional<String> payloadVersion,
      Optional<String> message,
      Optional<String> configHash,
      Optional<String> installerImage) {

    /** Reads a node's labels and annotations (either may be null). */
    public static NodeReport parse(Map<String, String> labels, Map<String, String> annotations) {
      Map<String, String> l = labels == null ? Map.of() : labels;
      Map<String, String> a = annotations == null ? Map.of() : annotations;
      Set<String> classes = new TreeSet<>();
      l.forEach(
          (k, v) -> {
            if (k.startsWith(PREFIX) && !k.equals(LABEL_STATE) && LABEL_TRUE.equals(v)) {
              classes.add(k.substring(PREFIX.length()));
            }
          });
      Set<String> hypervisors = new TreeSet<>();
      for (String h : a.getOrDefault(ANNOTATION_HYPERVISORS, "").split(",")) {
        if (!h.isBlank()) {
          hypervisors.add(h.strip().toLowerCase(Locale.ROOT));
        }
      }
      return new NodeReport(
          RuntimeState.parse(l.get(LABEL_STATE)),
          Collections.unmodifiableSet(classes),
          Virtualization.parse(a.get(ANNOTATION_VIRTUALIZATION)),
          Collections.unmodifiableSet(hypervisors),
          nonBlank(a.get(ANNOTATION_PAYLOAD_VERSION)),
          nonBlank(a.get(ANNOTATION_MESSAGE)),
          nonBlank(a.get(ANNOTATION_CONFIG_HASH)),
          nonBlank(a.get(ANNOTATION_INSTALLER_IMAGE)));
    }

    /** Whether runtime class {@code name} works on the node. */
    public boolean supports(String name) {
      return runtimeClasses.contains(name);
    }

    /** Whether the report is for exactly the settings with this hash. */
    public boolean isFor(String hash) {
      return configHash.filter(hash::equals).isPresent();
    }
  }

  private static Optional<String> nonBlank(String s) {
    return s == null || s.isBlank() ? Optional.empty() : Optional.of(s.strip());
  }

  /** Whether a label or annotation key belongs to the contract. */
  public static boolean isContractKey(String key) {
    return key.startsWith(PREFIX);
  }
}
