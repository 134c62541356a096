package dev.kataoperator.shim.pod;

import dev.kataoperator.shim.sandbox.SandboxException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The pod's cgroup (the sandbox spec's {@code linux.cgroupsPath}, under kubelet's pod cgroup), so
 * that the VM and its helpers count against the pod's limits and overhead. Works with cgroup v2, v1
 * and hybrid hosts, and the paths of both cgroup drivers (cgroupfs and systemd, see {@link
 * #relativePath}).
 */
final class PodCgroup {
  private static final System.Logger LOG = System.getLogger(PodCgroup.class.getName());
  // v1 controllers that need no setup before a task joins (cpuset would need cpus/mems copied).
  private static final Set<String> V1_CONTROLLERS =
      Set.of("cpu", "cpuacct", "memory", "pids", "blkio");

  /**
   * Moves {@code pids} into the pod's cgroup, creating it in every hierarchy it is missing. Each
   * directory about to be created is first appended to {@code record} (in the pod's run directory),
   * so that {@link #removeRecorded} removes exactly what the pod made: at the pod's teardown, after
   * a join that failed part way, and after a killed shim. Nothing is kept in memory.
   *
   * @throws SandboxException when a hierarchy refuses: the VM must not run outside the pod's limits
   */
  static void join(String cgroupsPath, List<Long> pids, Path record) {
    if (cgroupsPath.isEmpty()) {
      return;
    }
    String relative = relativePath(cgroupsPath);
    for (Path root : hierarchies()) {
      Path dir = root.resolve(relative);
      try {
        // Record every level this creates (outermost first), so removeRecorded leaves nothing.
        var missing = new ArrayList<Path>();
        for (Path d = dir; !d.equals(root) && !Files.isDirectory(d); d = d.getParent()) {
          missing.addFirst(d);
        }
        if (!missing.isEmpty()) {
          Files.write(
              record,
              missing.stream().map(Path::toString).toList(),
              StandardOpenOption.CREATE,
              StandardOpenOption.APPEND);
        }
        Files.createDirectories(dir);
        for (long pid : pids) {
          Files.writeString(dir.resolve("cgroup.procs"), Long.toString(pid));
        }
      } catch (IOException e) {
        // A VM outside the pod's cgroup escapes the pod's limits: the pod does not start. What
        // was made is in the record; the pod's teardown removes it once the VM is gone.
        throw new SandboxException(
            "cannot put the VM into the pod's cgroup "
                + dir
                + " ("
                + e.getMessage()
                + "): it would run outside the pod's limits; check that the node's cgroup"
                + " hierarchies are writable by containerd",
            e);
      }
    }
  }

  private static final Pattern UNIT_PART = Pattern.compile("[A-Za-z0-9_.@]+");

  /**
   * Where {@code cgroupsPath} is below each hierarchy's root. The cgroupfs driver's path
   * ("/kubepods/pod&lt;uid&gt;/&lt;id&gt;") as given. The systemd driver's ("slice:prefix:name",
   * what containerd writes when kubelet's cgroup parent is a slice): the directories systemd gives
   * such a unit, slices nested by their dash-separated prefixes ("kubepods-besteffort-pod1.slice"
   * is "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice") and the unit
   * "prefix-name.scope", as runc names it. The shim makes that directory itself (there is no
   * systemd unit behind it), so the VM counts against the pod's slice and shows under the sandbox's
   * cgroup name.
   *
   * @throws IllegalArgumentException for a path that could leave the hierarchy or is malformed
   */
  static String relativePath(String cgroupsPath) {
    if (!cgroupsPath.contains(":")) {
      if (!cgroupsPath.startsWith("/") || cgroupsPath.contains("..") || cgroupsPath.equals("/")) {
        throw new IllegalArgumentException("cgroupsPath '" + cgroupsPath + "' is invalid");
      }
      return cgroupsPath.substring(1);
    }
    String[] parts = cgroupsPath.split(":", -1);
    if (parts.length != 3
        || parts[2].isEmpty()
        || parts[2].endsWith(".slice")
        || !valid(parts[0], true)
        || !valid(parts[1], true)
        || !valid(parts[2], false)) {
      throw new IllegalArgumentException(
          "cgroupsPath '"
              + cgroupsPath
              + "' is invalid: the systemd driver's form is slice:prefix:name");
    }
    String slice = parts[0].isEmpty() ? "system.slice" : parts[0];
    if (!slice.endsWith(".slice")) {
      throw new IllegalArgumentException(
          "cgroupsPath '" + cgroupsPath + "' is invalid: '" + slice + "' is not a slice");
    }
    var dirs = new ArrayList<String>();
    if (!slice.equals("-.slice")) {
      String[] names = slice.substring(0, slice.length() - ".slice".length()).split("-", -1);
      for (int i = 0; i < names.length; i++) {
        if (names[i].isEmpty()) {
          throw new IllegalArgumentException(
              "cgroupsPath '" + cgroupsPath + "' is invalid: slice '" + slice + "'");
        }
        dirs.add(String.join("-", List.of(names).subList(0, i + 1)) + ".slice");
      }
    }
    dirs.add((parts[1].isEmpty() ? "" : parts[1] + "-") + parts[2] + ".scope");
    return String.join("/", dirs);
  }

  private static boolean valid(String part, boolean mayBeEmpty) {
    if (part.isEmpty()) {
      return mayBeEmpty;
    }
    return UNIT_PART.matcher(part.replace("-", "_")).matches() && !part.contains("..");
  }

  /**
   * Removes the cgroups a pod recorded as created (innermost first), once its VM is gone: at its
   * teardown, also after a join that failed part way, and after a shim that was killed before it
   * could. Only directories below a cgroup hierarchy are touched; one that still has tasks or
   * children stays (rmdir refuses).
   */
  static void removeRecorded(Path record) {
    List<String> lines;
    try {
      lines = Files.readAllLines(record);
    } catch (IOException e) {
      return; // nothing recorded
    }
    List<Path> roots = hierarchies();
    for (String line : lines.reversed()) {
      Path dir = Path.of(line).normalize();
      if (line.contains("..")
          || roots.stream().noneMatch(r -> dir.startsWith(r) && !dir.equals(r))) {
        LOG.log(Level.WARNING, "not removing " + line + ": not a cgroup below a hierarchy");
        continue;
      }
      try {
        Files.deleteIfExists(dir);
      } catch (IOException e) {
        LOG.log(Level.WARNING, "cannot remove cgroup " + dir + ": " + e.getMessage());
      }
    }
  }

  /** Mount points of the cgroup v2 hierarchy and of the v1 controllers we use. */
  static List<Path> hierarchies() {
    var roots = new ArrayList<Path>();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] sep = line.split(" - ", 2);
        if (sep.length < 2) {
          continue;
        }
        String[] fields = sep[0].split(" ");
        String[] after = sep[1].split(" ");
        if (after[0].equals("cgroup2")) {
          roots.add(Path.of(fields[4]));
        } else if (after[0].equals("cgroup") && after.length >= 3) {
          for (String opt : after[2].split(",")) {
            if (V1_CONTROLLERS.contains(opt)) {
              roots.add(Path.of(fields[4]));
              break;
            }
          }
        }
      }
    } catch (IOException e) {
      // no mountinfo: no cgroups to join
    }
    return roots;
  }
}
