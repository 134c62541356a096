package dev.kataoperator.installer.containerd;

import dev.kataoperator.contract.ContainerdFlavor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The containerd on a node: flavor, the config file to edit, the binary and its version.
 *
 * @param flavor plain containerd, k3s or rke2
 * @param config the config the installer edits (a host path)
 * @param configExists whether that file exists
 * @param binary the binary whose {@code --version} was read, as run here
 * @param version its version, if {@code --version} printed one
 * @param versionOutput the first line of {@code --version}, for the report
 * @param source how it was found: {@code process <pid>}, {@code path} or {@code given}
 */
public record ContainerdInstallation(
    ContainerdFlavor flavor,
    Path config,
    boolean configExists,
    Optional<Path> binary,
    Optional<ContainerdVersion> version,
    String versionOutput,
    String source) {

  /**
   * What to look at.
   *
   * @param hostRoot where the host's files are ({@code /}, or {@code /host} in the pod)
   * @param proc the proc file system to look for a running containerd in (the host's, with
   *     hostPID), or empty to skip that
   * @param flavor a flavor to assume instead of detecting one
   * @param config a config path (host path) instead of the flavor's
   * @param binary a binary (as run here) instead of the running or well-known one
   */
  public record Query(
      Path hostRoot,
      Optional<Path> proc,
      Optional<ContainerdFlavor> flavor,
      Optional<Path> config,
      Optional<Path> binary) {

    public static Query host() {
      return new Query(
          Path.of("/"),
          Optional.of(Path.of("/proc")),
          Optional.empty(),
          Optional.empty(),
          Optional.empty());
    }
  }

  /** A running containerd: its executable (as /proc/PID/exe) and the config it was given. */
  record Running(long pid, Path exe, Optional<Path> config) {}

  public static ContainerdInstallation detect(Query q) {
    Optional<Running> running =
        q.binary().isPresent()
            ? Optional.empty()
            : q.proc().flatMap(ContainerdInstallation::findRunning);
    ContainerdFlavor flavor =
        q.flavor()
            .orElseGet(
                () ->
                    running
                        .flatMap(Running::config)
                        .map(ContainerdFlavor::ofConfigPath)
                        .orElseGet(() -> detectFlavor(q.hostRoot())));
    Path config =
        q.config()
            .orElseGet(
                () ->
                    flavor == ContainerdFlavor.containerd
                        ? running.flatMap(Running::config).orElse(flavor.config())
                        : flavor.config());
    Optional<Path> binary;
    String source;
    if (q.binary().isPresent()) {
      binary = q.binary();
      source = "given";
    } else if (running.isPresent()) {
      binary = Optional.of(running.get().exe());
      source = "process " + running.get().pid() + describeExe(running.get().exe());
    } else {
      binary =
          flavor.binaries().stream()
              .map(b -> onHost(q.hostRoot(), b))
              .filter(Files::isExecutable)
              .findFirst();
      source = "path";
    }
    String out = binary.map(ContainerdInstallation::versionOutput).orElse("");
    return new ContainerdInstallation(
        flavor,
        config,
        Files.exists(onHost(q.hostRoot(), config)),
        binary,
        ContainerdVersion.parseVersionOutput(out),
        out,
        source);
  }

  static ContainerdFlavor detectFlavor(Path hostRoot) {
    for (ContainerdFlavor f : List.of(ContainerdFlavor.rke2, ContainerdFlavor.k3s)) {
      if (Stream.concat(f.markers().stream(), f.binaries().stream())
          .anyMatch(p -> Files.exists(onHost(hostRoot, p)))) {
        return f;
      }
    }
    return ContainerdFlavor.containerd;
  }

  /** The running containerd with the lowest pid whose command name is {@code containerd}. */
  static Optional<Running> findRunning(Path proc) {
    List<Running> found = new ArrayList<>();
    try (Stream<Path> dirs = Files.list(proc)) {
      for (Path d : dirs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
        try {
          if (!Files.readString(d.resolve("comm")).strip().equals("containerd")) {
            continue;
          }
          List<String> args =
              List.of(Files.readString(d.resolve("cmdline"), StandardCharsets.UTF_8).split("\0"));
          // A relative --config is relative to containerd's working directory.
          Optional<Path> config = configArg(args);
          if (config.isPresent() && !config.get().isAbsolute()) {
            config = Optional.of(Files.readSymbolicLink(d.resolve("cwd")).resolve(config.get()));
          }
          found.add(
              new Running(Long.parseLong(d.getFileName().toString()), d.resolve("exe"), config));
        } catch (IOException | RuntimeException e) {
          // the process went away, or is not ours to read: skip it
        }
      }
    } catch (IOException e) {
      return Optional.empty();
    }
    return found.stream().min(Comparator.comparingLong(Running::pid));
  }

  /** The value of {@code --config}/{@code -c} in containerd's arguments. */
  static Optional<Path> configArg(List<String> args) {
    for (int i = 1; i < args.size(); i++) {
      String a = args.get(i);
      if ((a.equals("--config") || a.equals("-c")) && i + 1 < args.size()) {
        return Optional.of(Path.of(args.get(i + 1)));
      }
      for (String p : List.of("--config=", "-c=")) {
        if (a.startsWith(p)) {
          return Optional.of(Path.of(a.substring(p.length())));
        }
      }
    }
    return Optional.empty();
  }

  /** The first line {@code binary --version} prints, or a note of why there is none. */
  static String versionOutput(Path binary) {
    try {
      Process p =
          new ProcessBuilder(binary.toString(), "--version").redirectErrorStream(true).start();
      p.getOutputStream().close();
      // A version line fits the pipe's buffer: wait first, so a hung binary cannot block a read.
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return "(" + binary + " --version did not finish)";
      }
      byte[] out;
      try (var in = p.getInputStream()) {
        out = in.readNBytes(4096);
      }
      String s = new String(out, StandardCharsets.UTF_8).strip();
      int nl = s.indexOf('\n');
      return nl < 0 ? s : s.substring(0, nl);
    } catch (IOException e) {
      return "(cannot run " + binary + ": " + e.getMessage() + ")";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "(interrupted)";
    }
  }

  private static String describeExe(Path exe) {
    try {
      return " (" + Files.readSymbolicLink(exe) + ")";
    } catch (IOException | UnsupportedOperationException e) {
      return "";
    }
  }

  static Path onHost(Path hostRoot, Path hostPath) {
    return hostRoot.resolve(hostPath.toString().substring(1));
  }
}
