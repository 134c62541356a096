package dev.kataoperator.shim.sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
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

  /** Deletes {@code dir} recursively, without following symlinks; errors are ignored. */
  public static void deleteQuietly(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder())
          .forEach(
              p -> {
                try {
                  Files.deleteIfExists(p);
                } catch (IOException e) {
                  // best effort: a busy file is reported by the leak checks in tests
                }
              });
    } catch (IOException e) {
      // the directory vanished meanwhile
    }
  }
}
