package dev.kataoperator.shim.pod;

import dev.kataoperator.shim.host.Native;
import dev.kataoperator.shim.sandbox.RunDirs;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Mounts on the host, through util-linux mount(8)/umount(8): the JDK has no mount API, and these
 * run a few times per container, not on a hot path.
 */
final class HostMounts {
  private static final System.Logger LOG = System.getLogger(HostMounts.class.getName());

  private HostMounts() {}

  static void mount(String type, String source, Path target, List<String> options)
      throws IOException {
    var cmd = new ArrayList<>(List.of("mount", "-t", type));
    if (!options.isEmpty()) {
      cmd.addAll(List.of("-o", String.join(",", options)));
    }
    cmd.addAll(List.of(source, target.toString()));
    run(cmd);
  }

  /**
   * Sets up a pod's share so that the guest cannot steer a host mount. Binds are made under {@code
   * binds}, which the guest never sees; the guest is given {@code export}: a read-only view of it
   * that receives every mount made there (a slave of it), so the only writable places a guest
   * reaches are the containers' rootfs and read-write volumes themselves, never a directory the
   * host creates or resolves a mount target through (Kata's CVE-2020-2026 and CVE-2020-2024).
   * {@code staging} is private: read-only binds are made read-only there before they are moved in,
   * since a remount does not reach the copies already propagated to the view.
   */
  static void makeShare(Path binds, Path export, Path staging) throws IOException {
    for (Path d : List.of(binds, export, staging)) {
      Files.createDirectories(d);
    }
    run(List.of("mount", "--bind", binds.toString(), binds.toString()));
    run(List.of("mount", "--make-private", binds.toString()));
    run(List.of("mount", "--make-shared", binds.toString()));
    run(List.of("mount", "--bind", binds.toString(), export.toString()));
    run(List.of("mount", "--make-slave", export.toString()));
    run(List.of("mount", "-o", "remount,bind,ro", export.toString()));
    run(List.of("mount", "--bind", staging.toString(), staging.toString()));
    run(List.of("mount", "--make-private", staging.toString()));
  }

  /**
   * Binds {@code source} (and what is mounted below it) at {@code target} under a share's binds
   * directory; a read-only bind is made read-only, with everything mounted below it, in {@code
   * staging} first and then moved in, so the guest's view of it is never writable, not even for a
   * moment.
   */
  static void bind(Path source, Path target, boolean readOnly, Path staging) throws IOException {
    boolean dir = Files.isDirectory(source);
    makeTarget(target, dir);
    if (!readOnly) {
      run(List.of("mount", "--rbind", source.toString(), target.toString()));
      return;
    }
    Path staged =
        dir ? Files.createTempDirectory(staging, "ro") : Files.createTempFile(staging, "ro", "");
    try {
      run(List.of("mount", "--rbind", source.toString(), staged.toString()));
      try {
        // Everything mounted below the volume too (a remount reaches the top mount only).
        if (!Native.makeReadOnlyRecursively(staged)) {
          LOG.log(
              Level.WARNING,
              "this kernel has no mount_setattr (Linux 5.12+): only the top of read-only volume "
                  + source
                  + " is read-only, not what is mounted below it");
          run(List.of("mount", "-o", "remount,bind,ro", staged.toString()));
        }
        run(List.of("mount", "--move", staged.toString(), target.toString()));
      } catch (IOException e) {
        unmountAllUnder(staged);
        throw e;
      }
    } finally {
      Files.deleteIfExists(staged);
    }
  }

  private static void makeTarget(Path target, boolean dir) throws IOException {
    if (dir) {
      Files.createDirectories(target);
    } else {
      Files.createDirectories(target.getParent());
      if (!Files.exists(target)) {
        Files.createFile(target);
      }
    }
  }

  /** Unmounts everything at or below {@code root}, deepest first; lazily when busy. */
  static void unmountAllUnder(Path root) {
    List<Path> points = new ArrayList<>(RunDirs.mountPointsUnder(root));
    points.sort(Comparator.comparingInt(Path::getNameCount).reversed());
    for (Path p : points) {
      try {
        run(List.of("umount", p.toString()));
      } catch (IOException e) {
        try {
          run(List.of("umount", "-l", p.toString()));
        } catch (IOException ignored) {
          // gone meanwhile
        }
      }
    }
  }

  /**
   * How long one mount(8) or umount(8) may take: a mount that hangs (a dead NFS server behind a
   * volume) must fail the create or the delete, not hang it.
   */
  static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(30);

  private static void run(List<String> cmd) throws IOException {
    run(cmd, COMMAND_TIMEOUT);
  }

  static void run(List<String> cmd, Duration timeout) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    // Read beside the wait: a hung command keeps its output open.
    CompletableFuture<String> out = new CompletableFuture<>();
    Thread.ofVirtual()
        .start(
            () -> {
              try (var in = p.getInputStream()) {
                out.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8).strip());
              } catch (IOException e) {
                out.complete("");
              }
            });
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly();
        throw new IOException(
            String.join(" ", cmd) + ": no answer within " + timeout.toSeconds() + " s");
      }
      if (p.exitValue() != 0) {
        throw new IOException(
            String.join(" ", cmd) + ": " + out.completeOnTimeout("", 1, TimeUnit.SECONDS).join());
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + String.join(" ", cmd), e);
    }
  }
}
