package dev.kataoperator.shim.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.errors.ShimException.Kind;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class SpawnerTest {
  @Test
  void everyCommandDiesWithTheShim() {
    var cmd = Spawner.tiedToThisJvm(List.of("/usr/bin/qemu-system-x86_64", "-S"));
    assertEquals(
        List.of(
            "/usr/bin/setpriv", "--pdeathsig", "KILL", "--", "/usr/bin/qemu-system-x86_64", "-S"),
        cmd);
  }

  @Test
  void capabilitiesAreCutFromTheBoundingSetBeforeTheBinaryRuns() {
    var cmd = Spawner.withOnlyCapabilities(Set.of("net_admin", "chown"), List.of("/bin/qemu"));
    assertEquals(
        List.of("/usr/bin/setpriv", "--bounding-set", "-all,+chown,+net_admin", "--", "/bin/qemu"),
        cmd);
  }

  @Test
  void withoutSetprivNoVmStarts() {
    var e =
        assertThrows(
            HypervisorException.class,
            () -> Spawner.tiedToThisJvm(List.of("qemu"), Path.of("/nonexistent/setpriv")));
    assertEquals(Kind.FAILED_PRECONDITION, e.kind());
    assertTrue(e.getMessage().contains("util-linux"), e.getMessage());
  }
}
