package dev.kataoperator.shim.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Unpacks an image from an OCI layout directory with umoci (Debian's package). */
final class OciImages {
  private OciImages() {}

  /**
   * Unpacks {@code ref} ("DIR" or "DIR:TAG", tag defaulting to latest) into {@code bundle} and
   * returns the rootfs directory inside it.
   */
  static Path unpack(String ref, Path bundle) {
    int colon = ref.lastIndexOf(':');
    String dir = ref;
    String tag = "latest";
    if (colon > 0 && !Files.isDirectory(Path.of(ref))) {
      dir = ref.substring(0, colon);
      tag = ref.substring(colon + 1);
    }
    if (!Files.isRegularFile(Path.of(dir, "index.json"))) {
      throw new IllegalArgumentException(
          "--image " + dir + " is not an OCI layout directory (no index.json)");
    }
    try {
      Files.createDirectories(bundle.getParent());
      Process p =
          new ProcessBuilder(
                  "umoci", "raw", "unpack", "--image", dir + ":" + tag, bundle.toString())
              .redirectErrorStream(true)
              .start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
      if (p.waitFor() != 0) {
        throw new IllegalArgumentException(
            "cannot unpack image " + dir + ":" + tag + ": " + lastLine(out));
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot run umoci to unpack the image (" + e.getMessage() + "); run 'make setup'");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalArgumentException("interrupted while unpacking the image");
    }
    return bundle;
  }

  private static String lastLine(String s) {
    String[] lines = s.split("\n");
    return lines[lines.length - 1];
  }
}
