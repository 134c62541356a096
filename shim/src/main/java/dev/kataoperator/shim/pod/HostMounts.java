package dev.kataoperator.shim.pod;

import dev.kataoperator.shim.sandbox.RunDirs;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Mounts on the host, through util-linux mount(8)/umount(8): the JDK has no mount API, and these
 * run a few times per container, not on a hot path.
 */
final class HostMounts {
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

  static void bind(Path source, Path target, boolean readOnly) throws IOException {
    if (Files.isDirectory(source)) {
      Files.createDirectories(target);
    } else {
      Files.createDirectories(target.getParent());
      if (!Files.exists(target)) {
        Files.createFile(target);
      }
    }
    run(List.of("mount", "--rbind", source.toString(), target.toString()));
    if (readOnly) {
      run(List.of("mount", "-o", "remount,bind,ro", target.toString()));
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

  private static void run(List<String> cmd) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    try {
      if (p.waitFor() != 0) {
        throw new IOException(String.join(" ", cmd) + ": " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + String.join(" ", cmd), e);
    }
  }
}
