package dev.kataoperator.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/** An initramfs whose /init never starts an agent: to test the host's boot timeout. */
final class SilentGuest {
  private SilentGuest() {}

  static Path initramfs(Path dir) throws IOException, InterruptedException {
    return initramfs(dir, "");
  }

  /**
   * The same, with {@code script} run first (busybox sh, stdout on the serial console): a guest
   * that floods its console, say.
   */
  static Path initramfs(Path dir, String script) throws IOException, InterruptedException {
    Path root = dir.resolve("root");
    Files.createDirectories(root.resolve("bin"));
    Files.createDirectories(root.resolve("dev"));
    Files.copy(Busybox.BINARY, root.resolve("bin/busybox"));
    Path init = root.resolve("init");
    Files.writeString(
        init, "#!/bin/busybox sh\n" + script + "\nwhile :; do /bin/busybox sleep 3600; done\n");
    Files.setPosixFilePermissions(init, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path out = dir.resolve("silent.cpio.gz");
    Process p =
        new ProcessBuilder(
                "sh",
                "-c",
                // The kernel gives init /dev/console as its stdio only if the initramfs has it.
                "mknod -m 600 '"
                    + root
                    + "/dev/console' c 5 1 2>/dev/null; cd '"
                    + root
                    + "' && find . | cpio -o -H newc --quiet | gzip -1 > '"
                    + out
                    + "'")
            .inheritIO()
            .start();
    if (p.waitFor() != 0) {
      throw new IOException("building the silent initramfs failed");
    }
    return out;
  }
}
