package dev.kataoperator.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A minimal container root filesystem from Debian's busybox-static. */
final class Busybox {
  static final Path BINARY = Path.of("/bin/busybox");
  private static final List<String> APPLETS =
      List.of(
          "sh",
          "cat",
          "echo",
          "uname",
          "id",
          "pwd",
          "ls",
          "touch",
          "head",
          "yes",
          "sleep",
          "env",
          "true",
          "false",
          "wc",
          "sha256sum",
          "dd",
          "kill",
          "hostname",
          "mount",
          "tr",
          "seq");

  private Busybox() {}

  /** Creates {@code dir} with /bin/busybox and its applets, /etc/passwd and empty mount points. */
  static Path rootfs(Path dir) throws IOException {
    if (!Files.isExecutable(BINARY)) {
      throw new IllegalStateException("/bin/busybox missing: run 'make setup' (busybox-static)");
    }
    Files.createDirectories(dir.resolve("bin"));
    Files.copy(BINARY, dir.resolve("bin/busybox"));
    for (String a : APPLETS) {
      Files.createSymbolicLink(dir.resolve("bin").resolve(a), Path.of("busybox"));
    }
    for (String d : List.of("proc", "sys", "dev", "tmp", "etc", "root", "work")) {
      Files.createDirectories(dir.resolve(d));
    }
    Files.writeString(
        dir.resolve("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
    Files.writeString(dir.resolve("etc/group"), "root:x:0:\nnogroup:x:65534:\n");
    return dir;
  }
}
