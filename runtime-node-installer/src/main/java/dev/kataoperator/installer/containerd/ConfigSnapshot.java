package dev.kataoperator.installer.containerd;

import dev.kataoperator.installer.fs.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Some config files' bytes and modes at one moment (a missing file recorded as missing), to put
 * back exactly when a restart with the new config fails. Held in memory only: a run killed during
 * rollback is followed by a fresh install that converges on its own.
 */
public final class ConfigSnapshot {
  private record Content(byte[] bytes, Set<PosixFilePermission> mode) {}

  private final Map<Path, Optional<Content>> files;

  private ConfigSnapshot(Map<Path, Optional<Content>> files) {
    this.files = files;
  }

  /** Reads {@code hostPaths} under {@code hostRoot}. */
  static ConfigSnapshot of(Path hostRoot, List<Path> hostPaths) throws IOException {
    Map<Path, Optional<Content>> m = new LinkedHashMap<>();
    for (Path p : hostPaths) {
      Path f = ContainerdInstallation.onHost(hostRoot, p);
      try {
        m.put(
            p,
            Optional.of(
                new Content(
                    Files.readAllBytes(f),
                    Files.getPosixFilePermissions(f, LinkOption.NOFOLLOW_LINKS))));
      } catch (NoSuchFileException e) {
        m.put(p, Optional.empty());
      }
    }
    return new ConfigSnapshot(m);
  }

  /**
   * Writes back what was there, in {@code order}; files that were missing are deleted afterwards,
   * in reverse order (so an import never names a missing file).
   */
  void restore(Path hostRoot, List<Path> order) throws IOException {
    for (Path p : order) {
      Optional<Content> c = files.get(p);
      if (c != null && c.isPresent()) {
        Path f = ContainerdInstallation.onHost(hostRoot, p);
        if (!Files.exists(f) || !java.util.Arrays.equals(Files.readAllBytes(f), c.get().bytes())) {
          AtomicFiles.write(f, c.get().bytes(), c.get().mode());
        }
      }
    }
    for (Path p : order.reversed()) {
      Optional<Content> c = files.get(p);
      if (c != null && c.isEmpty()) {
        AtomicFiles.delete(ContainerdInstallation.onHost(hostRoot, p));
      }
    }
  }
}
