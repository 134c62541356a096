package dev.kataoperator.installer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** How a node mounts cgroups, read from a mount table ({@code /proc/<pid>/mounts}). */
public enum CgroupLayout {
  /** cgroup2 at /sys/fs/cgroup. */
  V2,
  /** Only v1 controllers under /sys/fs/cgroup/*. */
  V1,
  /** v1 controllers plus a cgroup2 hierarchy (usually /sys/fs/cgroup/unified). */
  HYBRID,
  /** No cgroup file system mounted under /sys/fs/cgroup. */
  NONE;

  private static final Path ROOT = Path.of("/sys/fs/cgroup");

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The layout a mount table's lines describe. */
  public static CgroupLayout of(List<String> mounts) {
    boolean v1 = false;
    boolean v2 = false;
    for (String line : mounts) {
      String[] f = line.split("\\s+");
      if (f.length < 3 || !Path.of(unescape(f[1])).startsWith(ROOT)) {
        continue;
      }
      if (f[2].equals("cgroup2")) {
        if (Path.of(unescape(f[1])).equals(ROOT)) {
          return V2;
        }
        v2 = true;
      } else if (f[2].equals("cgroup")) {
        v1 = true;
      }
    }
    return v1 ? (v2 ? HYBRID : V1) : (v2 ? HYBRID : NONE);
  }

  /** Reads the mount table at {@code mounts}. */
  public static CgroupLayout read(Path mounts) throws IOException {
    return of(Files.readAllLines(mounts));
  }

  /** The kernel writes spaces in mount points as \040. */
  private static String unescape(String s) {
    return s.replace("\\040", " ");
  }
}
