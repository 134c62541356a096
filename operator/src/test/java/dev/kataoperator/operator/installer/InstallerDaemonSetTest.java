package dev.kataoperator.operator.installer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.contract.InstallerContract.Mode;
import dev.kataoperator.contract.RestartMethod;
import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.api.v1alpha1.KataConfigSpec;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class InstallerDaemonSetTest {

  static KataConfig kc() {
    KataConfig kc = new KataConfig();
    kc.getMetadata().setName("cluster");
    kc.getMetadata().setUid("uid-1");
    kc.setSpec(new KataConfigSpec());
    return kc;
  }

  static InstallerSettings settings(KataConfig kc) {
    return InstallerSettings.of(kc, "default/installer:1");
  }

  static String env(DaemonSet ds, String name) {
    return ds.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv().stream()
        .filter(e -> e.getName().equals(name))
        .map(EnvVar::getValue)
        .findFirst()
        .orElse(null);
  }

  @Test
  void defaultsApplyWhenTheSpecIsEmpty() {
    DaemonSet ds = InstallerDaemonSet.build(settings(kc()), "ns", Mode.install);
    assertEquals(
        "default/installer:1",
        ds.getSpec().getTemplate().getSpec().getContainers().get(0).getImage());
    assertEquals("kata-qemu=qemu", env(ds, InstallerContract.ENV_RUNTIME_CLASSES));
    assertEquals("RequireHardware", env(ds, InstallerContract.ENV_VIRTUALIZATION_POLICY));
    assertEquals("auto", env(ds, InstallerContract.ENV_CONTAINERD_RESTART));
    assertEquals(
        1, ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getIntVal());
    assertEquals("ns", ds.getMetadata().getNamespace());
  }

  @Test
  void hashCoversWhatTheInstallerActsOnOnly() {
    KataConfig kc = kc();
    String base = settings(kc).hash(Mode.install);
    kc.getSpec().rollout.maxUnavailable = new IntOrString(3);
    kc.getSpec().tolerations = List.of(new TolerationBuilder().withOperator("Exists").build());
    assertEquals(base, settings(kc).hash(Mode.install), "rollout and tolerations do not reinstall");
    kc.getSpec().installer.image = "other:2";
    assertNotEquals(base, settings(kc).hash(Mode.install));
    assertNotEquals(settings(kc).hash(Mode.install), settings(kc).hash(Mode.uninstall));
    KataConfig recreated = kc();
    recreated.getMetadata().setUid("uid-2");
    assertNotEquals(base, settings(recreated).hash(Mode.install), "a new KataConfig reinstalls");
  }

  @Test
  void hashIsInTheTemplateSoAChangeRollsThePods() {
    KataConfig kc = kc();
    DaemonSet ds = InstallerDaemonSet.build(settings(kc), "ns", Mode.install);
    assertEquals(
        env(ds, InstallerContract.ENV_CONFIG_HASH),
        ds.getSpec()
            .getTemplate()
            .getMetadata()
            .getAnnotations()
            .get("kataoperator.dev/config-hash"));
  }

  @Test
  void uninstallModeRevertsEveryNodeAtOnce() {
    DaemonSet ds = InstallerDaemonSet.build(settings(kc()), "ns", Mode.uninstall);
    assertEquals("uninstall", env(ds, InstallerContract.ENV_MODE));
    assertEquals(
        "100%",
        ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getStrVal());
  }

  @Test
  void customContainerdConfigDirectoryIsMounted() {
    KataConfig kc = kc();
    kc.getSpec().containerd.flavor = ContainerdFlavor.containerd;
    kc.getSpec().containerd.configPath = "/srv/containerd/config.toml";
    kc.getSpec().containerd.restartMethod = RestartMethod.command;
    kc.getSpec().containerd.restartCommand = List.of("sh", "-c", "kill -HUP 1");
    DaemonSet ds = InstallerDaemonSet.build(settings(kc), "ns", Mode.install);
    var mounts = ds.getSpec().getTemplate().getSpec().getContainers().get(0).getVolumeMounts();
    assertTrue(mounts.stream().anyMatch(m -> m.getMountPath().equals("/host/srv/containerd")));
    assertEquals("sh\n-c\nkill -HUP 1", env(ds, InstallerContract.ENV_CONTAINERD_RESTART_COMMAND));
    // Under an already mounted path: no second mount.
    kc.getSpec().containerd.configPath = "/etc/containerd/conf.d/kata.toml";
    var again =
        InstallerDaemonSet.build(settings(kc), "ns", Mode.install)
            .getSpec()
            .getTemplate()
            .getSpec()
            .getVolumes();
    assertEquals(InstallerContract.HOST_PATHS.size() + 1, again.size());
  }
}
