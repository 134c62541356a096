package dev.kataoperator.shim.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class KataRunOptionsTest {
  private static KataRunOptions parse(String... args) {
    return KataRunOptions.parse(args);
  }

  private static String usageError(String... args) {
    return assertThrows(KataRunOptions.UsageException.class, () -> parse(args)).getMessage();
  }

  @Test
  void fullCommandLine() {
    var o =
        parse(
            "--rootfs",
            "/r",
            "-i",
            "-t",
            "-e",
            "A=1",
            "-e",
            "B=x=y",
            "-w",
            "/tmp",
            "-u",
            "1000:100",
            "--memory",
            "512",
            "--cpus",
            "2",
            "--read-only",
            "--",
            "sh",
            "-c",
            "exit 7");
    assertEquals(Optional.of(Path.of("/r")), o.rootfs());
    assertTrue(o.interactive() && o.tty() && o.readOnly());
    assertEquals(List.of("A=1", "B=x=y"), o.env());
    assertEquals("/tmp", o.workdir());
    assertEquals(1000, o.uid());
    assertEquals(100, o.gid());
    assertEquals(512, o.memoryMiB());
    assertEquals(2, o.cpus());
    assertEquals(List.of("sh", "-c", "exit 7"), o.command());
  }

  @Test
  void commandWithoutDashDashStartsAtFirstWord() {
    var o = parse("--image", "/img:v1", "uname", "-r");
    assertEquals(Optional.of("/img:v1"), o.image());
    assertEquals(List.of("uname", "-r"), o.command());
  }

  @Test
  void userWithoutGroupUsesUidAsGid() {
    var o = parse("--rootfs", "/r", "-u", "65534", "--", "id");
    assertEquals(65534, o.gid());
  }

  @Test
  void badInputIsOneClearMessage() {
    assertTrue(usageError("--rootfs", "/r").contains("no command"));
    assertTrue(usageError("--", "true").contains("exactly one of --rootfs"));
    assertTrue(usageError("--rootfs", "/r", "--image", "/i", "--", "true").contains("exactly one"));
    assertTrue(usageError("--rootfs", "/r", "-e", "NOEQUALS", "--", "true").contains("KEY=VALUE"));
    assertTrue(usageError("--rootfs", "/r", "-w", "rel", "--", "true").contains("absolute"));
    assertTrue(usageError("--rootfs", "/r", "-u", "root", "--", "true").contains("-u UID"));
    assertTrue(usageError("--rootfs", "/r", "--memory", "8", "--", "true").contains("64.."));
    assertTrue(
        usageError("--rootfs", "/r", "--bogus", "--", "true").contains("unknown option --bogus"));
    assertTrue(usageError("--rootfs").contains("--rootfs needs a value"));
  }
}
