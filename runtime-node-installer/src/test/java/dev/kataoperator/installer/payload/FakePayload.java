package dev.kataoperator.installer.payload;

import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.testsupport.Containerd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * A small payload shaped like the image's: a version directory with a launcher, jars, a JRE legal
 * link, the real kata-qemu.toml template, {@code current}, and a manifest made by the image's own
 * make-manifest.sh.
 */
final class FakePayload {
  private FakePayload() {}

  static Path create(Path root, String version) throws Exception {
    Path v = root.resolve(PayloadLayout.VERSIONS_DIR).resolve(version);
    Files.createDirectories(v.resolve("bin"));
    Files.createDirectories(v.resolve("lib"));
    Files.createDirectories(v.resolve("jre/legal/java.base"));
    Files.createDirectories(v.resolve("jre/legal/java.logging"));
    Files.createDirectories(v.resolve(PayloadLayout.DEFAULTS_DIR));
    Path launcher = v.resolve("bin").resolve(PayloadLayout.QEMU_LAUNCHER);
    Files.writeString(launcher, "#!/bin/sh\necho launcher " + version + "\n");
    Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.write(v.resolve("lib/shim.jar"), ("jar of " + version).getBytes());
    Files.writeString(v.resolve("lib").resolve(PayloadLayout.JVM_OPTIONS), "-Xss512k\n");
    Files.writeString(v.resolve("jre/legal/java.base/LICENSE"), "license\n");
    Files.createSymbolicLink(
        v.resolve("jre/legal/java.logging/LICENSE"), Path.of("../java.base/LICENSE"));
    Files.copy(
        Containerd.repoRoot().resolve("shim/payload/kata-qemu.toml"),
        v.resolve(PayloadLayout.DEFAULTS_DIR).resolve(PayloadLayout.QEMU_CONFIG_TEMPLATE));
    Files.writeString(v.resolve(PayloadLayout.VERSION_FILE), version + "\n");
    Path current = root.resolve(PayloadLayout.CURRENT_LINK);
    Files.deleteIfExists(current);
    Files.createSymbolicLink(current, Path.of(PayloadLayout.VERSIONS_DIR, version));
    manifest(root);
    return root;
  }

  /** Runs the image's make-manifest.sh on {@code root}. */
  static void manifest(Path root) throws Exception {
    var r =
        Containerd.run(
            List.of(
                "sh",
                Containerd.repoRoot()
                    .resolve("runtime-node-installer/image/make-manifest.sh")
                    .toString(),
                root.toString()),
            null,
            300);
    if (r.exit() != 0) {
      throw new AssertionError("make-manifest.sh: " + r);
    }
  }
}
