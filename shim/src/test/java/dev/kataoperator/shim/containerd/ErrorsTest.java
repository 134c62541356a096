package dev.kataoperator.shim.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.config.ConfigException;
import dev.kataoperator.shim.errors.ShimException;
import dev.kataoperator.shim.hypervisor.HypervisorException;
import dev.kataoperator.shim.network.NetworkException;
import dev.kataoperator.shim.sandbox.SandboxException;
import dev.kataoperator.shim.ttrpc.Code;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class ErrorsTest {

  @Test
  void aKindBecomesItsCodeAndKeepsItsMessage() {
    var s = Errors.toStatus(new ConfigException(Path.of("/k.toml"), "accel must be one of ..."));
    assertEquals(Code.INVALID_ARGUMENT, s.code());
    assertEquals("config /k.toml: accel must be one of ...", s.statusMessage());
    assertEquals(
        Code.ALREADY_EXISTS,
        Errors.toStatus(new NetworkException(NetworkException.Reason.BUSY, "tap0 exists")).code());
  }

  @Test
  void anInternalFailureDefersToWhatCausedIt() {
    // A sandbox failure caused by the agent's NOT_FOUND reaches containerd as NOT_FOUND, with the
    // sandbox's words (which name the operation).
    var agentSaid = new TtrpcException(Code.NOT_FOUND, "executable file not found in $PATH");
    var e = new SandboxException("exec into c1 failed: " + agentSaid.statusMessage(), agentSaid);
    var s = Errors.toStatus(e);
    assertEquals(Code.NOT_FOUND, s.code());
    assertEquals("exec into c1 failed: executable file not found in $PATH", s.statusMessage());
  }

  @Test
  void wrappersAreLookedThrough() {
    var inner = new SandboxException(ShimException.Kind.FAILED_PRECONDITION, "the VM has exited");
    assertEquals(Code.FAILED_PRECONDITION, Errors.toStatus(new ExecutionException(inner)).code());
    var status = new TtrpcException(Code.NOT_FOUND, "no such process");
    assertSame(status, Errors.toStatus(new ExecutionException(status)));
  }

  @Test
  void nothingDecisiveIsUnknownAndNamesTheClass() {
    var s = Errors.toStatus(new HypervisorException("qemu died", new IOException("EOF")));
    assertEquals(Code.UNKNOWN, s.code());
    assertTrue(Errors.unexpected(s));
    var npe = Errors.toStatus(new NullPointerException("x is null"));
    assertEquals("NullPointerException: x is null", npe.statusMessage());
    assertFalse(Errors.unexpected(Errors.toStatus(new IllegalArgumentException("bad id"))));
  }
}
