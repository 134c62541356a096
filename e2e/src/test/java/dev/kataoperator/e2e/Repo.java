package dev.kataoperator.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Paths into the source tree and the build outputs the tests run. */
final class Repo {
  private Repo() {}

  static Path root() {
    String env = System.getenv("KATA_REPO_ROOT");
    Path p = env != null ? Path.of(env) : Path.of("..");
    return p.toAbsolutePath().normalize();
  }

  static Path guestDir() {
    String env = System.getenv("KATA_GUEST_DIR");
    return env != null ? Path.of(env) : root().resolve("build/guest");
  }

  static Path kataRun() {
    return root().resolve("shim/bin/kata-run");
  }

  static String guestKernelRelease() throws IOException {
    Path release = guestDir().resolve("kernel.release");
    if (!Files.exists(release)) {
      throw new IllegalStateException("no guest built at " + guestDir() + "; run 'make guest'");
    }
    return Files.readString(release).strip();
  }
}
