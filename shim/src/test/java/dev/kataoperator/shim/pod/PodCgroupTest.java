package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

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
}
