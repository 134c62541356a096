package dev.kataoperator.operator.reconciler;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Which pods hold up an uninstall: found on a real cluster, where most pods are runc pods. */
@Tag("unit")
class PodsUsingTest {
  private static final Set<String> OURS = new TreeSet<>(Set.of("kata", "kata-qemu"));

  private static Pod pod(String runtimeClass, String phase) {
    return new PodBuilder()
        .withNewMetadata()
        .withName("p")
        .withNamespace("default")
        .endMetadata()
        .withNewSpec()
        .withRuntimeClassName(runtimeClass)
        .endSpec()
        .withNewStatus()
        .withPhase(phase)
        .endStatus()
        .build();
  }

  @Test
  void aRuncPodWithNoRuntimeClassIsNotOursAndDoesNotBreakTheLookup() {
    // A sorted set throws on contains(null): the cleanup failed on every real cluster.
    assertFalse(KataConfigReconciler.uses(pod(null, "Running"), OURS));
    assertFalse(KataConfigReconciler.uses(new Pod(), OURS));
  }

  @Test
  void runningOrPendingPodsOfOurClassesHoldTheUninstall() {
    assertTrue(KataConfigReconciler.uses(pod("kata", "Running"), OURS));
    assertTrue(KataConfigReconciler.uses(pod("kata-qemu", "Pending"), OURS));
    assertFalse(KataConfigReconciler.uses(pod("kata", "Succeeded"), OURS));
    assertFalse(KataConfigReconciler.uses(pod("gvisor", "Running"), OURS));
  }
}
