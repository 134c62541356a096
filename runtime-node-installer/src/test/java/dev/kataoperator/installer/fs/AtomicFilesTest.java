package dev.kataoperator.installer.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
  @TempDir Path dir;

  @Test
  void aRewriteKeepsOwnerAndMode() throws Exception {
    Path f = dir.resolve("config.toml");
    Files.writeString(f, "old\n");
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r-----"));
    Files.setAttribute(f, "unix:uid", 1000);
    Files.setAttribute(f, "unix:gid", 1001);
    AtomicFiles.write(f, "new\n");
    assertEquals("new\n", Files.readString(f));
    assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    assertEquals(1000, Files.getAttribute(f, "unix:uid"));
    assertEquals(1001, Files.getAttribute(f, "unix:gid"));
    assertEquals(List.of(f), list());
  }

  @Test
  void aNewFileIsRootsDefault() throws Exception {
    Path f = dir.resolve("sub/new.toml");
    AtomicFiles.write(f, "x");
    assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
  }

  @Test
  void aSymbolicLinkIsNeverWrittenThrough() throws Exception {
    Path target = dir.resolve("elsewhere");
    Files.writeString(target, "theirs");
    Path link = dir.resolve("config.toml");
    Files.createSymbolicLink(link, target);
    assertThrows(IOException.class, () -> AtomicFiles.write(link, "ours"));
    assertEquals("theirs", Files.readString(target));
    assertTrue(Files.isSymbolicLink(link));
    assertEquals(2, list().size(), "no temp file left");
  }

  @Test
  void tempFilesAreFreshAndPrivateUntilFilled() throws Exception {
    Path a = AtomicFiles.createTemp(dir, "x");
    Path b = AtomicFiles.createTemp(dir, "x");
    assertNotEquals(a, b);
    assertTrue(AtomicFiles.isTemp(a.getFileName().toString()));
    assertFalse(AtomicFiles.isTemp("x.toml"));
    assertTrue(Files.isRegularFile(a, LinkOption.NOFOLLOW_LINKS));
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(a)));
  }

  @Test
  void writeLikeTakesTheOtherFilesModeAndOwner() throws Exception {
    Path like = dir.resolve("main.toml");
    Files.writeString(like, "m");
    Files.setPosixFilePermissions(like, PosixFilePermissions.fromString("rw-------"));
    Path backup = dir.resolve("main.toml.bak");
    AtomicFiles.writeLike(backup, "clean", like);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(backup)));
  }

  List<Path> list() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.sorted().toList();
    }
  }
}
