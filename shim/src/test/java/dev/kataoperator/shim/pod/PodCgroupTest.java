package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
class PodCgroupTest {

  @Test
  void aCgroupfsPathIsTakenAsGiven() {
    assertEquals(
        "kubepods/besteffort/pod-uid/abc",
        PodCgroup.relativePath("/kubepods/besteffort/pod-uid/abc"));
  }

  @Test
  void aSystemdPathIsTheDirectoriesSystemdGivesItsSlicesAndScope() {
    assertEquals(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234_5678.slice/"
            + "cri-containerd-abc123.scope",
        PodCgroup.relativePath("kubepods-besteffort-pod1234_5678.slice:cri-containerd:abc123"));
    assertEquals("system.slice/kata-x.scope", PodCgroup.relativePath(":kata:x"));
    assertEquals("x.scope", PodCgroup.relativePath("-.slice::x"));
  }

  @Test
  void pathsThatCouldLeaveTheHierarchyOrAreMalformedAreRefused() {
    for (String bad :
        new String[] {
          "/",
          "kubepods/x",
          "/kubepods/../../x",
          "a.slice:cri:../../x",
          "a.slice:cri:x/y",
          "../a.slice:cri:x",
          "a/b.slice:cri:x",
          "a--b.slice:cri:x",
          "-a.slice:cri:x",
          ".slice:cri:x",
          "a.service:cri:x",
          "a.slice:cri:",
          "a.slice:cri:x:y",
          "a.slice:cri:x.slice",
          "a.slice:c ri:x",
        }) {
      assertThrows(IllegalArgumentException.class, () -> PodCgroup.relativePath(bad), bad);
    }
  }

  /** Real cgroups (root): a process joins in every hierarchy, and the cgroups go with remove. */
  @Test
  @Tag("root")
  void aProcessJoinsThePodsCgroupInEveryHierarchyAndRemoveLeavesNothing(@TempDir Path tmp)
      throws Exception {
    Process sleeper = new ProcessBuilder("sleep", "60").start();
    String id = "katatestcg" + ProcessHandle.current().pid();
    try {
      PodCgroup.join(
          "katatest-" + id + ".slice:cri-containerd:" + id,
          List.of(sleeper.pid()),
          tmp.resolve("cgroups"));
      String scope = "/katatest.slice/katatest-" + id + ".slice/cri-containerd-" + id + ".scope";
      List<String> lines = Files.readAllLines(Path.of("/proc", "" + sleeper.pid(), "cgroup"));
      assertEquals(
          PodCgroup.hierarchies().size(),
          lines.stream().filter(l -> l.endsWith(":" + scope)).count(),
          "in every hierarchy: " + lines);
      sleeper.destroyForcibly().waitFor();
      PodCgroup.removeRecorded(tmp.resolve("cgroups"));
      for (Path root : PodCgroup.hierarchies()) {
        assertFalse(Files.exists(root.resolve("katatest.slice")), "left under " + root);
      }
    } finally {
      sleeper.destroyForcibly();
    }
  }
}
