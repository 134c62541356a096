package dev.kataoperator.operator.installer;

import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.Hypervisor;
import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.contract.LogLevel;
import dev.kataoperator.contract.RestartMethod;
import dev.kataoperator.contract.VirtualizationPolicy;
import dev.kataoperator.operator.api.v1alpha1.ContainerdSpec;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigSpec;
import dev.kataoperator.operator.api.v1alpha1.RuntimeClassSpec;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Toleration;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * A KataConfig's spec with every default applied: what the operator acts on. The API server applies
 * the CRD's defaults; this fills the few that depend on the operator (the installer image) and
 * guards against objects stored before a default existed.
 */
public record InstallerSettings(
    String kataConfigName,
    String kataConfigUid,
    String image,
    String imagePullPolicy,
    List<String> imagePullSecrets,
    List<RuntimeClassSpec> runtimeClasses,
    String virtualization,
    ContainerdSpec containerd,
    String logLevel,
    IntOrString maxUnavailable,
    LabelSelector nodeSelector,
    List<Toleration> tolerations,
    boolean forceUninstall) {

  /** The runtime classes used when a spec names none. */
  public static List<RuntimeClassSpec> defaultRuntimeClasses() {
    return List.of(new RuntimeClassSpec("kata-qemu", Hypervisor.qemu, true));
  }

  public static InstallerSettings of(KataConfig kc, String defaultImage) {
    KataConfigSpec s = Optional.ofNullable(kc.getSpec()).orElseGet(KataConfigSpec::new);
    var installer =
        Optional.ofNullable(s.installer)
            .orElseGet(dev.kataoperator.operator.api.v1alpha1.InstallerSpec::new);
    String image =
        installer.image == null || installer.image.isBlank() ? defaultImage : installer.image;
    List<RuntimeClassSpec> classes =
        s.runtimeClasses == null || s.runtimeClasses.isEmpty()
            ? defaultRuntimeClasses()
            : List.copyOf(s.runtimeClasses);
    for (RuntimeClassSpec c : classes) {
      if (c.hypervisor == null) {
        c.hypervisor = Hypervisor.qemu;
      }
      if (c.overhead == null) {
        c.overhead = new RuntimeClassSpec.Overhead();
      }
    }
    return new InstallerSettings(
        kc.getMetadata().getName(),
        kc.getMetadata().getUid(),
        image,
        Optional.ofNullable(installer.imagePullPolicy)
            .orElse(dev.kataoperator.operator.api.v1alpha1.InstallerSpec.PullPolicy.IfNotPresent)
            .name(),
        installer.imagePullSecrets == null ? List.of() : List.copyOf(installer.imagePullSecrets),
        classes,
        Optional.ofNullable(s.virtualization).orElse(VirtualizationPolicy.RequireHardware).name(),
        Optional.ofNullable(s.containerd).orElseGet(ContainerdSpec::new),
        Optional.ofNullable(s.logLevel).orElse(LogLevel.info).name(),
        s.rollout == null || s.rollout.maxUnavailable == null
            ? new IntOrString(1)
            : s.rollout.maxUnavailable,
        s.nodeSelector,
        s.tolerations == null ? List.of() : List.copyOf(s.tolerations),
        s.uninstall != null && s.uninstall.force);
  }

  /** The class also published as {@code kata}, if any. */
  public Optional<RuntimeClassSpec> defaultRuntimeClass() {
    return runtimeClasses.stream().filter(c -> c.isDefault).findFirst();
  }

  /** {@code kata-qemu=qemu,kata-qemu-big=qemu}: the installer's runtime class list. */
  public String runtimeClassesEnv() {
    return runtimeClasses.stream()
        .map(c -> c.name + "=" + c.hypervisor.name())
        .collect(Collectors.joining(","));
  }

  public String containerdFlavor() {
    return Optional.ofNullable(containerd.flavor).orElse(ContainerdFlavor.auto).name();
  }

  public String containerdRestart() {
    if (containerd.restartMethod != null) {
      return containerd.restartMethod.name();
    }
    return containerd.flavor == null || containerd.flavor == ContainerdFlavor.auto
        ? "auto"
        : RestartMethod.systemd.name();
  }

  /**
   * The hash the installer echoes back: covers everything the installer acts on (and the
   * KataConfig's uid and the mode), nothing it does not (rollout, tolerations, selector), so a node
   * is up to date exactly when it applied the current settings.
   */
  public String hash(Mode mode) {
    String canonical =
        String.join(
            "\n",
            "uid=" + kataConfigUid,
            "mode=" + mode.name(),
            "image=" + image,
            "classes=" + runtimeClassesEnv(),
            "virtualization=" + virtualization,
            "containerd.flavor=" + containerdFlavor(),
            "containerd.config=" + Optional.ofNullable(containerd.configPath).orElse(""),
            "containerd.restart=" + containerdRestart(),
            "containerd.command="
                + String.join(
                    "\u0000", Optional.ofNullable(containerd.restartCommand).orElse(List.of())),
            "logLevel=" + logLevel);
    try {
      byte[] d =
          MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JDK", e);
    }
  }
}
