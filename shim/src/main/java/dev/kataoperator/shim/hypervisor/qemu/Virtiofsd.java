package dev.kataoperator.shim.hypervisor.qemu;

import dev.kataoperator.shim.hypervisor.HypervisorException;
import dev.kataoperator.shim.hypervisor.Spawner;
import dev.kataoperator.shim.hypervisor.VmConfig.SharedDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Starts one virtiofsd per virtio-fs share; it exits by itself when QEMU disconnects. */
final class Virtiofsd {
  private Virtiofsd() {}

  static Process start(Path binary, SharedDir share, Path socket, Path runDir) throws IOException {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                binary.toString(),
                "--socket-path=" + socket,
                "--shared-dir=" + share.hostPath(),
                "--cache=auto",
                "--announce-submounts",
                // Its defaults stay: a namespace sandbox and a seccomp filter that kills. A guest
                // must not make device nodes on a host filesystem through it.
                "--modcaps=-mknod",
                "--log-level=error"));
    if (share.readOnly()) {
      cmd.add("--readonly");
    }
    Process p =
        Spawner.start(
            new ProcessBuilder(Spawner.tiedToThisJvm(cmd))
                .redirectErrorStream(true)
                .redirectOutput(runDir.resolve("virtiofsd-" + share.tag() + ".log").toFile()));
    long deadline = System.nanoTime() + 5_000_000_000L;
    try {
      while (!Files.exists(socket)) {
        if (!p.isAlive()) {
          throw new HypervisorException(
              "virtiofsd exited at start; see "
                  + runDir.resolve("virtiofsd-" + share.tag() + ".log"));
        }
        if (System.nanoTime() > deadline) {
          p.destroyForcibly();
          throw new HypervisorException("virtiofsd did not create " + socket + " within 5 s");
        }
        Thread.sleep(5);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new HypervisorException("interrupted while starting virtiofsd", e);
    }
    return p;
  }
}
