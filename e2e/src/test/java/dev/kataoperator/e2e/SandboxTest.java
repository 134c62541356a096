package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.sandbox.GuestProcess;
import dev.kataoperator.shim.sandbox.Hypervisors;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.ttrpc.Code;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java VM layer driven directly: boot, agent health, bad requests, clean teardown. */
@Tag("vm")
class SandboxTest {
  @TempDir Path tmp;

  private Sandbox boot(String id) throws Exception {
    Path guest = Repo.guestDir();
    RuntimeConfig config = RuntimeConfig.load(guest.resolve("kata-qemu.toml"));
    Path rootfs = Busybox.rootfs(tmp.resolve("rootfs"));
    return Sandbox.boot(
        new Sandbox.Spec(id, tmp.resolve("run"), rootfs, false, 0, 0, id),
        config,
        Hypervisors.forConfig(config),
        HostVirtualization.probe());
  }

  @Test
  void agentReportsTheGuestKernelAndRuntime() throws Exception {
    try (Sandbox sb = boot("health-test")) {
      assertEquals(Repo.guestKernelRelease(), sb.health().getKernelRelease());
      assertTrue(sb.health().getOciRuntime().startsWith("crun"), sb.health().getOciRuntime());
      assertFalse(sb.health().getAgentVersion().isBlank());
    }
    // The caller's records live there too (a pod's cgroups), read after close: the caller removes
    // it.
    assertTrue(Files.isDirectory(tmp.resolve("run")), "the run directory is left to its owner");
  }

  /** CreateContainer with bad input must be refused as INVALID_ARGUMENT, nothing created. */
  private void assertRefused(String test, String containerId, String specJson) throws Exception {
    try (Sandbox sb = boot(test)) {
      var request =
          CreateContainerRequest.newBuilder()
              .setContainerId(containerId)
              .setOciSpecJson(ByteString.copyFrom(specJson, StandardCharsets.UTF_8))
              .setRootfsPath(Sandbox.GUEST_SHARED_DIR)
              .build();
      var e = assertThrows(AgentException.class, () -> sb.createContainer(request));
      assertEquals(Code.INVALID_ARGUMENT, e.status().code(), e.getMessage());
    }
  }

  @Test
  void malformedSpecIsInvalidArgument() throws Exception {
    assertRefused("badspec-test", "c1", "{not json");
  }

  @Test
  void pathTraversalInContainerIdIsRefused() throws Exception {
    assertRefused("badid-test", "../../etc", "{}");
  }

  @Test
  void initKilledBySignalExitsWith128PlusSignal() throws Exception {
    try (Sandbox sb = boot("signal-test")) {
      var spec =
          """
          {"ociVersion":"1.1.0","process":{"args":["sleep","600"],"cwd":"/","user":{"uid":0,"gid":0},
           "env":["PATH=/bin"]},"root":{"path":"rootfs"},
           "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                    {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}],
           "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}
          """;
      sb.createContainer(
          CreateContainerRequest.newBuilder()
              .setContainerId("sleeper")
              .setOciSpecJson(ByteString.copyFromUtf8(spec))
              .setRootfsPath(Sandbox.GUEST_SHARED_DIR)
              .build());
      sb.agent().startContainer("sleeper");
      var process = new GuestProcess(sb.agent(), "sleeper", "");
      process.signal(9);
      assertEquals(137, process.waitFor());
    }
  }

  @Test
  void vmProcessIsGoneAfterClose() throws Exception {
    Sandbox sb = boot("close-test");
    long pid = sb.vm().pids().getFirst();
    assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
    sb.close();
    assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
    // The agent powered the guest off itself (DestroySandbox), so QEMU exited on its own.
    assertEquals(0, sb.vm().exited().getNow(-1));
  }
}
