package dev.kataoperator.e2e.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/**
 * The local cluster (e2e/cluster/up, down): the {@link ClusterSmoke} scenarios on it, then down
 * leaves no process, mount, interface, netfilter chain, cgroup, network namespace, kernel setting
 * or state dir behind, checked against what the host showed while the cluster ran.
 */
@Tag("cluster")
@DisabledIfSystemProperty(named = Cluster.PROPERTY, matches = "k3s")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LocalClusterTest extends ClusterSmoke {
  private LocalCluster cluster;
  private boolean up;
  private HostTraces beforeUp;
  private HostTraces whileUp;
  private String bridge;
  private String cgroupRoot;
  private List<String> kubeletHostDirsBefore;

  @Override
  Cluster cluster() {
    return cluster;
  }

  @BeforeAll
  void up() throws Exception {
    cluster = LocalCluster.fromProperties();
    Path state = cluster.stateDir();
    // Never take down a cluster this test did not start (a dev's own, at the same dir).
    if (Files.exists(state)) {
      try (Stream<Path> s = Files.list(state)) {
        if (s.findAny().isPresent()) {
          throw new IllegalStateException(
              state
                  + " is in use (a cluster is up?): run e2e/cluster/down "
                  + state
                  + " or pick another dir with -D"
                  + LocalCluster.DIR_PROPERTY);
        }
      }
    }
    kubeletHostDirsBefore = existing("/var/lib/kubelet", "/var/log/containers");
    beforeUp = HostTraces.capture(state, "/kata-e2e");
    up = true; // from here on down runs, also after a failed up (up cleans, down finds nothing)
    cluster.up();
    bridge = cluster.value("BRIDGE");
    cgroupRoot = cluster.value("CGROUP_ROOT");
  }

  @AfterAll
  void downIfStillUp() throws Exception {
    if (up) {
      up = false;
      cluster.down();
    }
  }

  @Test
  @Order(50)
  void theClusterShowsOnTheHostWhileUp() throws Exception {
    whileUp = HostTraces.capture(cluster.stateDir(), cgroupRoot);
    // What down must remove is really there: otherwise its test below proves nothing.
    assertTrue(
        whileUp.processes().stream().anyMatch(p -> p.contains("kube-apiserver")), "apiserver");
    assertTrue(
        whileUp.processes().stream().anyMatch(p -> p.contains("containerd-shim-runc-v2")), "shims");
    assertTrue(
        whileUp.mounts().stream().anyMatch(m -> m.contains("/volumes/kubernetes.io~projected/")),
        "kubelet's service-account token volumes: " + whileUp.mounts());
    assertTrue(whileUp.links().contains(bridge), "bridge " + bridge);
    assertFalse(podVeths().isEmpty(), "pod veths on " + bridge);
    assertFalse(whileUp.chainsNamed("KUBE-SERVICES").isEmpty(), "kube-proxy's chains");
    assertFalse(whileUp.cgroups().isEmpty(), "pod cgroups under " + cgroupRoot);
  }

  @Test
  @Order(100)
  void downLeavesNothing() throws Exception {
    List<String> veths = podVeths();
    up = false;
    cluster.down();
    HostTraces after = HostTraces.capture(cluster.stateDir(), cgroupRoot);

    assertEquals(List.of(), after.processes(), "processes");
    assertEquals(List.of(), after.mounts(), "mounts");
    assertFalse(after.links().contains(bridge), "bridge " + bridge + " left");
    assertEquals(
        List.of(), veths.stream().filter(after.links()::contains).toList(), "pod veths left");
    assertEquals(List.of(), after.chainsNamed("KUBE-"), "KUBE-* chains");
    assertEquals(beforeUp.chainsNamed("CNI-"), after.chainsNamed("CNI-"), "CNI-* chains");
    assertEquals(List.of(), after.cgroups(), "cgroups under " + cgroupRoot);
    assertEquals(beforeUp.netns(), after.netns(), "named network namespaces");
    assertEquals(beforeUp.sysctls(), after.sysctls(), "kernel settings");
    assertFalse(Files.exists(cluster.stateDir()), "state dir " + cluster.stateDir() + " left");
    assertEquals(
        kubeletHostDirsBefore,
        existing("/var/lib/kubelet", "/var/log/containers"),
        "kubelet's host dirs");
  }

  /** The host ends of the pods' veths: the interfaces enslaved to the bridge. */
  private List<String> podVeths() throws Exception {
    Path brif = Path.of("/sys/class/net", bridge, "brif");
    if (!Files.isDirectory(brif)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(brif)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static List<String> existing(String... paths) {
    return Stream.of(paths).filter(p -> Files.exists(Path.of(p))).toList();
  }
}
