package dev.kataoperator.shim.sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Removal of per-sandbox run directories (sockets, logs). */
public final class RunDirs {
  private RunDirs() {}

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
