package dev.kataoperator.e2e;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A memory-limited cgroup made the way kubelet makes a pod's (cgroup v1's memory controller, or the
 * unified hierarchy where memory is enabled), for tests that put a pod's VM under a limit.
 */
final class MemoryCgroup {
  private final Path dir;
  private final boolean v1;
  private final List<Path> made;

  private MemoryCgroup(Path dir, boolean v1, List<Path> made) {
    this.dir = dir;
    this.v1 = v1;
    this.made = made;
  }

  /** Makes {@code relative} (and its missing parents) with a memory limit of {@code bytes}. */
  static MemoryCgroup make(String relative, long bytes) throws IOException {
    Path v1Root = Path.of("/sys/fs/cgroup/memory");
    boolean v1 = Files.isRegularFile(v1Root.resolve("memory.limit_in_bytes"));
    Path root = v1 ? v1Root : Path.of("/sys/fs/cgroup");
    Path dir = root.resolve(relative);
    var made = new ArrayList<Path>();
    for (Path d = dir; !d.equals(root) && !Files.isDirectory(d); d = d.getParent()) {
      made.addFirst(d);
    }
    for (Path d : made) {
      if (!v1) {
        Files.writeString(d.getParent().resolve("cgroup.subtree_control"), "+memory");
      }
      Files.createDirectory(d);
    }
    var cgroup = new MemoryCgroup(dir, v1, made);
    Files.writeString(dir.resolve(v1 ? "memory.limit_in_bytes" : "memory.max"), "" + bytes);
    return cgroup;
  }

  /** The most memory the cgroup has held (v1 max_usage, v2 memory.peak). */
  long peakBytes() throws IOException {
    return Long.parseLong(
        Files.readString(dir.resolve(v1 ? "memory.max_usage_in_bytes" : "memory.peak")).strip());
  }

  /** Processes the kernel's OOM killer ended in the cgroup or below. */
  long oomKills() throws IOException {
    for (String line :
        Files.readAllLines(dir.resolve(v1 ? "memory.oom_control" : "memory.events"))) {
      if (line.startsWith("oom_kill ")) {
        return Long.parseLong(line.substring("oom_kill ".length()).strip());
      }
    }
    throw new IOException("no oom_kill count in " + dir);
  }

  /** Removes what {@link #make} made, innermost first (the pod's own cgroups are gone by then). */
  void remove() throws IOException, InterruptedException {
    long deadline = System.nanoTime() + 20_000_000_000L;
    for (Path d : made.reversed()) {
      while (true) {
        try {
          Files.deleteIfExists(d);
          break;
        } catch (IOException e) {
          // The shim removes its cgroups below once the VM is gone, just after containerd's call.
          if (System.nanoTime() > deadline) {
            throw e;
          }
          Thread.sleep(100);
        }
      }
    }
  }
}
