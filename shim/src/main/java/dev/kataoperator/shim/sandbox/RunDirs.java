package dev.kataoperator.shim.sandbox;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Stream;

/** Removal of per-sandbox run directories (sockets, logs). */
public final class RunDirs {
  private RunDirs() {}

  private static final String OWNER = "owner.pid";

  /** Creates {@code dir} and records this process as its owner, for {@link #sweepStale}. */
  public static void createOwned(Path dir) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(OWNER), Long.toString(ProcessHandle.current().pid()));
  }

  /**
   * Removes run directories under {@code root} whose owner process is gone (it was killed before it
   * could clean up). Its VM died with it: QEMU is tied to the owner's life.
   */
  public static void sweepStale(Path root) {
    if (!Files.isDirectory(root)) {
      return;
    }
    try (Stream<Path> dirs = Files.list(root)) {
      for (Path d : dirs.toList()) {
        Path owner = d.resolve(OWNER);
        if (!Files.isRegularFile(owner)) {
          continue;
        }
        try {
          long pid = Long.parseLong(Files.readString(owner).strip());
          if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
            continue;
          }
        } catch (IOException | NumberFormatException e) {
          // unreadable owner: treat as stale
        }
        deleteQuietly(d);
      }
    } catch (IOException e) {
      // nothing to sweep
    }
  }

  /**
   * Deletes {@code dir} recursively, without following symlinks and without entering anything
   * mounted below it (a container's rootfs or a host volume bound into a share directory whose
   * unmount failed must never lose its files); errors are ignored.
   */
  public static void deleteQuietly(Path dir) {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Set<Path> mounts = mountPointsUnder(dir);
    try {
      Files.walkFileTree(
          dir,
          new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
              // A mount point stays, and so do its parents (they are not empty).
              return mounts.contains(d.toAbsolutePath().normalize())
                  ? FileVisitResult.SKIP_SUBTREE
                  : FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) {
              deleteIgnoringErrors(f);
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path f, IOException e) {
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) {
              deleteIgnoringErrors(d);
              return FileVisitResult.CONTINUE;
            }
          });
    } catch (IOException e) {
      // the directory vanished meanwhile
    }
  }

  private static void deleteIgnoringErrors(Path p) {
    try {
      Files.deleteIfExists(p);
    } catch (IOException e) {
      // best effort: a busy or non-empty entry is reported by the leak checks in tests
    }
  }

  /** Mount points at or below {@code dir}, from this process's mountinfo. */
  public static Set<Path> mountPointsUnder(Path dir) {
    String prefix = dir.toAbsolutePath().normalize().toString();
    var found = new HashSet<Path>();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
        String[] f = line.split(" ");
        if (f.length < 5) {
          continue;
        }
        String point = unescapeMountinfo(f[4]);
        if (point.equals(prefix) || point.startsWith(prefix + "/")) {
          found.add(Path.of(point));
        }
      }
    } catch (IOException e) {
      // no mountinfo (not Linux): nothing is known to be mounted
    }
    return found;
  }

  /** mountinfo escapes space, tab, newline and backslash as three octal digits. */
  private static String unescapeMountinfo(String s) {
    var sb = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 3 < s.length()) {
        sb.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        sb.append(c);
      }
    }
    return sb.toString();
  }
}
