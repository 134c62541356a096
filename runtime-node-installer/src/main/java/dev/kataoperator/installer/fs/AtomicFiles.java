package dev.kataoperator.installer.fs;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;

/**
 * Files written so a reader (containerd, the shim) sees the old content or the new, never a mix,
 * and so nobody else's file is clobbered on the way: the temp file next to the target is created
 * fresh (CREATE_NEW, never following a symbolic link someone planted at its name), gets the
 * target's owner and mode before any byte is visible under the target's name, is synced, and is
 * renamed over the target; then the directory is synced.
 */
public final class AtomicFiles {
  /** Mode of a file that did not exist before. */
  public static final Set<PosixFilePermission> DEFAULT_MODE =
      PosixFilePermissions.fromString("rw-r--r--");

  /** Temp files end with this; {@link #isTemp} tells leftovers of a killed run apart. */
  public static final String TEMP_SUFFIX = ".kata-operator.tmp";

  private static final SecureRandom RANDOM = new SecureRandom();

  private AtomicFiles() {}

  public static Optional<String> read(Path file) throws IOException {
    try {
      return Optional.of(Files.readString(file, StandardCharsets.UTF_8));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /**
   * Writes {@code content} over {@code file}, keeping an existing file's owner and mode (a new file
   * gets root's default, {@link #DEFAULT_MODE}).
   */
  public static void write(Path file, String content) throws IOException {
    write(file, content.getBytes(StandardCharsets.UTF_8), Optional.empty());
  }

  /** The same, with the owner and mode of {@code like} (e.g. a backup of another file). */
  public static void writeLike(Path file, String content, Path like) throws IOException {
    write(
        file,
        content.getBytes(StandardCharsets.UTF_8),
        Optional.of(
            Files.readAttributes(like, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS)));
  }

  /** The same, with exactly these permissions (an existing file's owner is kept). */
  public static void write(Path file, byte[] content, Set<PosixFilePermission> mode)
      throws IOException {
    Optional<PosixFileAttributes> old = attributes(file);
    write(file, content, old, Optional.of(mode));
  }

  private static void write(Path file, byte[] content, Optional<PosixFileAttributes> like)
      throws IOException {
    write(file, content, like.isPresent() ? like : attributes(file), Optional.empty());
  }

  private static void write(
      Path file,
      byte[] content,
      Optional<PosixFileAttributes> owner,
      Optional<Set<PosixFilePermission>> mode)
      throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Files.createDirectories(dir);
    attributes(file); // refuses a symbolic link at the target
    Path tmp = createTemp(dir, file.getFileName().toString());
    try {
      fill(tmp, content);
      if (owner.isPresent()) {
        Files.setOwner(tmp, owner.get().owner());
        Files.getFileAttributeView(tmp, PosixFileAttributeView.class).setGroup(owner.get().group());
      }
      Files.setPosixFilePermissions(
          tmp,
          mode.orElseGet(() -> owner.map(PosixFileAttributes::permissions).orElse(DEFAULT_MODE)));
      replace(tmp, file);
    } finally {
      Files.deleteIfExists(tmp);
    }
    syncDirectory(dir);
  }

  /**
   * A new, empty temp file in {@code dir} named after {@code name}: created exclusively (an
   * existing file or link of that name is an error, never followed), mode 0600 until filled.
   */
  public static Path createTemp(Path dir, String name) throws IOException {
    for (int i = 0; ; i++) {
      Path tmp =
          dir.resolve(
              "." + name + "." + HexFormat.of().toHexDigits(RANDOM.nextInt()) + TEMP_SUFFIX);
      try {
        Files.newByteChannel(
                tmp,
                Set.of(
                    StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))
            .close();
        return tmp;
      } catch (FileAlreadyExistsException e) {
        if (i > 10) {
          throw e;
        }
      }
    }
  }

  /** Whether {@code name} is a temp file this class made (a leftover when a run was killed). */
  public static boolean isTemp(String name) {
    return name.startsWith(".") && name.endsWith(TEMP_SUFFIX);
  }

  private static void fill(Path tmp, byte[] content) throws IOException {
    try (FileChannel ch =
        FileChannel.open(tmp, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
      ByteBuffer b = ByteBuffer.wrap(content);
      while (b.hasRemaining()) {
        ch.write(b);
      }
      ch.force(true);
    }
  }

  private static Optional<PosixFileAttributes> attributes(Path file) throws IOException {
    try {
      PosixFileAttributes a =
          Files.readAttributes(file, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (a.isSymbolicLink()) {
        throw new IOException(
            file + " is a symbolic link; renaming over it would replace the link, not its target");
      }
      return Optional.of(a);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  private static void replace(Path tmp, Path file) throws IOException {
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("cannot rename " + tmp + " over " + file + " atomically", e);
    }
  }

  public static boolean delete(Path file) throws IOException {
    boolean deleted = Files.deleteIfExists(file);
    if (deleted) {
      syncDirectory(file.toAbsolutePath().getParent());
    }
    return deleted;
  }

  public static void syncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }
}
