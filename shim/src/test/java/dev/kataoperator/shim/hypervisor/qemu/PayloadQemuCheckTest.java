package dev.kataoperator.shim.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The payload build refuses a QEMU without the fix for CVE-2023-2861 (shim/payload/check-qemu.sh,
 * run by build-payload.sh before QEMU is copied): fakes stand in for the QEMU versions.
 */
@Tag("unit")
class PayloadQemuCheckTest {
  @TempDir Path tmp;

  @Test
  void aQemuWithoutThe9pFixIsRefusedWithTheCveNamed() throws Exception {
    var expected =
        Map.of(
            "7.2.0", false,
            "7.2.3", false,
            "7.2.4", true,
            "8.0.2", false,
            "8.0.3", true,
            "8.1.0", true,
            "10.0.2", true);
    for (var e : expected.entrySet()) {
      Path qemu = tmp.resolve("qemu-" + e.getKey());
      Files.writeString(
          qemu,
          "#!/bin/sh\necho 'QEMU emulator version "
              + e.getKey()
              + " (Debian 1:x)'\necho 'Copyright (c) 2003-2025 Fabrice Bellard'\n");
      Files.setPosixFilePermissions(qemu, PosixFilePermissions.fromString("rwxr-xr-x"));
      Process p =
          new ProcessBuilder("bash", Path.of("payload/check-qemu.sh").toString(), qemu.toString())
              .redirectErrorStream(true)
              .start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(e.getValue() ? 0 : 1, p.waitFor(), e.getKey() + ": " + out);
      if (!e.getValue()) {
        assertTrue(out.contains("CVE-2023-2861") && out.contains(e.getKey()), out);
      }
    }
  }
}
