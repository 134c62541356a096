package dev.kataoperator.shim.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import dev.kataoperator.shim.containerd.api.bootstrap.BootstrapParams;
import dev.kataoperator.shim.containerd.api.bootstrap.Extension;
import dev.kataoperator.shim.containerd.api.runtimeoptions.Options;
import dev.kataoperator.shim.containerd.api.task.DeleteResponse;
import dev.kataoperator.shim.containerd.api.types.RuntimeInfo;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
class ShimCommandLineTest {
  @TempDir Path dir;

  @Test
  void parsesContainerdsFlagsLikeGo() {
    ShimFlags f =
        ShimFlags.parse(
            new String[] {
              "-namespace",
              "k8s.io",
              "-address",
              "/run/containerd/containerd.sock",
              "-publish-binary",
              "/usr/bin/containerd",
              "-id",
              "abc",
              "-bundle=/b",
              "--debug",
              "start",
              "extra"
            });
    assertEquals("k8s.io", f.namespace());
    assertEquals("/run/containerd/containerd.sock", f.address());
    assertEquals("/usr/bin/containerd", f.publishBinary());
    assertEquals("abc", f.id());
    assertEquals("/b", f.bundle());
    assertTrue(f.debug());
    assertEquals("start", f.action());
    assertEquals(List.of("extra"), f.rest());
    assertThrows(
        IllegalArgumentException.class, () -> ShimFlags.parse(new String[] {"-bogus", "x"}));
    assertThrows(IllegalArgumentException.class, () -> ShimFlags.parse(new String[] {"-id"}));
    assertTrue(ShimFlags.parse(new String[] {"-v"}).version());
  }

  @Test
  void socketIsNamedAfterThePodLikeContainerdsShims() throws Exception {
    Path bundle = Files.createDirectories(dir.resolve("b"));
    assertEquals("c1", ShimMain.groupId(bundle, "c1"));
    Files.writeString(
        bundle.resolve("config.json"),
        "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"pod-9\",\"x\":\"y\"}}");
    assertEquals("pod-9", ShimMain.groupId(bundle, "c1"));
    Path s =
        ShimMain.socketPath(
            Path.of("/run/containerd/s"), "/run/containerd/containerd.sock", "k8s.io", "pod-9");
    // sha256("/run/containerd/containerd.sock/k8s.io/pod-9"), as shim.SocketAddress computes it
    assertEquals(
        "/run/containerd/s/"
            + java.util.HexFormat.of()
                .formatHex(
                    java.security.MessageDigest.getInstance("SHA-256")
                        .digest("/run/containerd/containerd.sock/k8s.io/pod-9".getBytes())),
        s.toString());
    assertTrue(s.toString().length() < 100, "fits a unix socket path");
  }

  @Test
  void recognisesContainerd23BootstrapParamsAndNotOlderOptions() {
    ShimFlags flags = ShimFlags.parse(new String[] {"-namespace", "k8s.io", "-id", "c1", "start"});
    Any options =
        Any.pack(
            Options.newBuilder().setConfigPath("/opt/kata/share/defaults/kata-qemu.toml").build(),
            "");
    BootstrapParams params =
        BootstrapParams.newBuilder()
            .setInstanceId("c1")
            .setNamespace("k8s.io")
            .setContainerdTtrpcAddress("/run/containerd/containerd.sock.ttrpc")
            .addExtensions(Extension.newBuilder().setValue(options))
            .build();
    assertTrue(ShimMain.bootstrapParams(params.toByteArray(), flags).isPresent());
    // Before 2.3 stdin holds the runtime options (an Any): never mistaken for bootstrap params.
    assertFalse(ShimMain.bootstrapParams(options.toByteArray(), flags).isPresent());
    assertFalse(ShimMain.bootstrapParams(new byte[0], flags).isPresent());
    assertFalse(
        ShimMain.bootstrapParams(
                params.toBuilder().setInstanceId("other").build().toByteArray(), flags)
            .isPresent());
    assertEquals(
        "/opt/kata/share/defaults/kata-qemu.toml",
        RuntimeOptions.configPath(options).orElseThrow());
  }

  @Test
  void deletePrintsADeleteResponseAfterCleanup() throws Exception {
    String[] cleaned = new String[1];
    ShimHooks hooks =
        new ShimHooks() {
          @Override
          public TaskBackend newBackend(ShimContext context) {
            throw new AssertionError();
          }

          @Override
          public void cleanup(ShimContext context) {
            cleaned[0] = context.namespace() + "/" + context.id() + " " + context.bundle();
          }
        };
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc =
        ShimMain.run(
            new String[] {"-namespace", "ns", "-id", "c1", "-bundle", dir.toString(), "delete"},
            hooks,
            new ByteArrayInputStream(new byte[0]),
            new PrintStream(out),
            new PrintStream(err));
    assertEquals(0, rc, err.toString());
    assertEquals("ns/c1 " + dir, cleaned[0]);
    DeleteResponse r = DeleteResponse.parseFrom(out.toByteArray());
    assertEquals(137, r.getExitStatus());
    assertTrue(r.getExitedAt().getSeconds() > 1_700_000_000L);
    assertEquals("", err.toString());
  }

  /**
   * A start that would have to serve the pod refuses outside the launchers (containerd waits for
   * start to exit, so a JVM that answered in the foreground and served on would hang it), with an
   * error naming them, and leaves no socket behind.
   */
  @Test
  void aStartOutsideTheLaunchersRefusesWithAnErrorNamingThem(@TempDir Path dir) throws Exception {
    Path sockets = Files.createDirectories(dir.resolve("s"));
    byte[] bootstrap =
        BootstrapParams.newBuilder()
            .setInstanceId("c1")
            .setNamespace("k8s.io")
            .setSocketDir(sockets.toString())
            .build()
            .toByteArray();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int rc =
        ShimMain.run(
            new String[] {"-namespace", "k8s.io", "-id", "c1", "-bundle", dir.toString(), "start"},
            null,
            new ByteArrayInputStream(bootstrap),
            new PrintStream(out),
            new PrintStream(err));
    assertEquals(1, rc);
    assertTrue(err.toString().contains("must run through the shim's launcher"), err.toString());
    assertEquals("", out.toString(), "no address was answered");
    try (var left = Files.list(sockets)) {
      assertTrue(left.allMatch(p -> p.toString().endsWith(".lock")), "no socket is left");
    }
  }

  @Test
  void infoPrintsRuntimeInfo() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int rc =
        ShimMain.run(
            new String[] {"-info"},
            null,
            new ByteArrayInputStream(new byte[0]),
            new PrintStream(out),
            new PrintStream(new ByteArrayOutputStream()));
    assertEquals(0, rc);
    assertEquals("io.containerd.kata-qemu.v2", RuntimeInfo.parseFrom(out.toByteArray()).getName());
  }
}
