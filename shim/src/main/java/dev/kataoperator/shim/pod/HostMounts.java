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
   * Makes {@code root} (the shims' run root) a private mount, binding it onto itself first if it is
   * not a mount point, so that nothing the shims mount below it (every pod's share) propagates to
   * the node's other mount namespaces: on a systemd node {@code /} is shared, and without this
   * every bind of every pod would appear in each peer and slave namespace and, once unmounted here,
   * could stay there. Idempotent and safe against concurrent shims (a lock file beside the root);
   * the one self-bind is left for the node's life, an empty directory elsewhere.
   */
  static void keepPrivate(Path root) throws IOException {
    Files.createDirectories(root);
    Path lock = root.resolveSibling(root.getFileName() + ".lock");
    try (var channel =
            java.nio.channels.FileChannel.open(
                lock,
                java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE,
                java.nio.file.LinkOption.NOFOLLOW_LINKS);
        var ignored = channel.lock()) {
      String point = root.toAbsolutePath().normalize().toString();
      List<String> optional = null;
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] f = line.split(" ");
        if (f.length > 6 && RunDirs.unescapeMountinfo(f[4]).equals(point)) {
          // The last mount on that point is the one paths resolve to.
          optional = new ArrayList<>();
          for (int i = 6; i < f.length && !f[i].equals("-"); i++) {
            optional.add(f[i]);
          }
        }
      }
      if (optional == null) {
        run(List.of("mount", "--bind", point, point));
      } else if (optional.stream().noneMatch(o -> o.startsWith("shared:"))) {
        return; // private or a slave already: nothing made below it reaches another namespace
      }
      run(List.of("mount", "--make-private", point));
    }
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
   * directory. Every bind is made nosuid and nodev, with everything mounted below it, and a
   * read-only one read-only, in {@code staging} first and then moved in, so the guest's view of it
   * never has it otherwise, not even for a moment. nosuid and nodev on the host side: a setuid bit
   * or a device node a guest leaves in a volume (its root owns the files of the share) means
   * nothing through the share on the host; the guest's own kernel decides what they mean inside.
   */
  static void bind(Path source, Path target, boolean readOnly, Path staging) throws IOException {
    boolean dir = Files.isDirectory(source);
    makeTarget(target, dir);
    Path staged =
        dir
            ? Files.createTempDirectory(staging, "bind")
            : Files.createTempFile(staging, "bind", "");
    try {
      run(List.of("mount", "--rbind", source.toString(), staged.toString()));
      try {
        // Everything mounted below the volume too (a remount reaches the top mount only).
        if (!Native.restrictRecursively(staged, readOnly)) {
          LOG.log(
              Level.WARNING,
              "this kernel has no mount_setattr (Linux 5.12+): only the top of volume "
                  + source
                  + " is nosuid,nodev"
                  + (readOnly ? ",ro" : "")
                  + ", not what is mounted below it");
          run(
              List.of(
                  "mount",
                  "-o",
                  "remount,bind,nosuid,nodev" + (readOnly ? ",ro" : ""),
                  staged.toString()));
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
