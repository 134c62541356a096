package dev.kataoperator.installer.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The host's processes as a proc file system shows them ({@code /proc} in a hostPID pod), read
 * only: nothing found here is ever executed. {@code hostPid} is the process whose namespaces are
 * "the host's" (1, the host's init; tests use their own).
 */
public record HostProcesses(Path proc, long hostPid) {

  public static HostProcesses host() {
    return new HostProcesses(Path.of("/proc"), 1);
  }

  /** The directory that is the host's root file system, seen from here. */
  public Path hostRootFs() {
    return proc.resolve(Long.toString(hostPid)).resolve("root");
  }

  /** {@code path} (a host path) as reached through the host's root, e.g. a socket under /run. */
  public Path onHostRootFs(Path hostPath) {
    return hostRootFs().resolve(hostPath.toString().substring(1));
  }

  /** Real and effective uid, from the {@code Uid:} line of status; empty when unreadable. */
  public Optional<int[]> uids(long pid) {
    try {
      for (String line : Files.readAllLines(dir(pid).resolve("status"))) {
        if (line.startsWith("Uid:")) {
          String[] f = line.substring(4).strip().split("\\s+");
          return Optional.of(new int[] {Integer.parseInt(f[0]), Integer.parseInt(f[1])});
        }
      }
    } catch (IOException | RuntimeException e) {
      // gone, or not ours to read
    }
    return Optional.empty();
  }

  /** Whether {@code pid} runs as root (real and effective uid 0). */
  public boolean isRoot(long pid) {
    return uids(pid).map(u -> u[0] == 0 && u[1] == 0).orElse(false);
  }

  /** The mount namespace link's target, e.g. {@code mnt:[4026531841]}. */
  public Optional<String> mountNamespace(long pid) {
    try {
      return Optional.of(Files.readSymbolicLink(dir(pid).resolve("ns/mnt")).toString());
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Whether {@code pid} shares the host's mount namespace (it is not in a container). */
  public boolean inHostMountNamespace(long pid) {
    Optional<String> host = mountNamespace(hostPid);
    return host.isPresent() && host.equals(mountNamespace(pid));
  }

  public Optional<String> comm(long pid) {
    try {
      return Optional.of(Files.readString(dir(pid).resolve("comm")).strip());
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  public List<String> cmdline(long pid) {
    try {
      String s = Files.readString(dir(pid).resolve("cmdline"), StandardCharsets.UTF_8);
      List<String> args = new ArrayList<>(List.of(s.split("\0")));
      return args;
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  public Optional<Path> cwd(long pid) {
    try {
      return Optional.of(Files.readSymbolicLink(dir(pid).resolve("cwd")));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Every pid in the proc file system, ascending. */
  public List<Long> pids() {
    try (Stream<Path> dirs = Files.list(proc)) {
      return dirs.map(p -> p.getFileName().toString())
          .filter(n -> n.matches("\\d+"))
          .map(Long::parseLong)
          .sorted()
          .toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  private Path dir(long pid) {
    return proc.resolve(Long.toString(pid));
  }
}
