package dev.kataoperator.shim.sandbox;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
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
   * Kills every process whose command line names a path under {@code dir} (the VM and its helpers
   * of a sandbox whose owner is gone or being stopped; only root can create these private run
   * directories, so such a process is ours) and waits, bounded, until they are gone.
   */
  public static void killProcessesUsing(Path dir) {
    String prefix = dir.toAbsolutePath().normalize() + "/";
    long self = ProcessHandle.current().pid();
    List<ProcessHandle> killed = new ArrayList<>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.toList()) {
        String name = p.getFileName().toString();
        if (!name.chars().allMatch(Character::isDigit) || Long.parseLong(name) == self) {
          continue;
        }
        String cmd;
        try {
          cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8);
        } catch (IOException e) {
          continue; // gone already
        }
        if (cmd.contains(prefix)) {
          ProcessHandle.of(Long.parseLong(name))
              .ifPresent(
                  h -> {
                    h.destroyForcibly();
                    killed.add(h);
                  });
        }
      }
    } catch (IOException e) {
      return;
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    for (ProcessHandle h : killed) {
      while (h.isAlive() && System.nanoTime() < deadline) {
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
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
  public static String unescapeMountinfo(String s) {
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
