package dev.kataoperator.installer.payload;

import dev.kataoperator.contract.InstallerContract;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.installer.payload.PayloadException.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The payload the image ships ({@link InstallerContract#IMAGE_PAYLOAD}): one version directory,
 * {@code current} pointing at it, and the manifest of its files. Opening it checks that the
 * manifest covers the version directory exactly (no file unlisted, none missing), so whatever is
 * copied to the node is checked.
 *
 * @param root the payload's root in the image
 * @param version the version {@code current} names
 * @param files the manifest's entries for that version, by path below its directory
 */
public record PayloadSource(Path root, String version, Map<String, String> files) {
  /** A version name: one path element, no leading dot (temp dirs use one). */
  static final Pattern VERSION = Pattern.compile("[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,127}");

  public Path versionDir() {
    return root.resolve(PayloadLayout.VERSIONS_DIR).resolve(version);
  }

  public static PayloadSource open(Path root) throws PayloadException {
    Path current = root.resolve(PayloadLayout.CURRENT_LINK);
    String version;
    try {
      Path target = Files.readSymbolicLink(current);
      if (target.getNameCount() != 2
          || !target.getName(0).toString().equals(PayloadLayout.VERSIONS_DIR)) {
        throw new PayloadException(
            Kind.BAD_IMAGE,
            current + " must point to " + PayloadLayout.VERSIONS_DIR + "/<version>");
      }
      version = target.getFileName().toString();
    } catch (IOException e) {
      throw new PayloadException(
          Kind.BAD_IMAGE, "the image has no payload: " + current + " is not a symbolic link", e);
    }
    if (!VERSION.matcher(version).matches()) {
      throw new PayloadException(Kind.BAD_IMAGE, "bad payload version name '" + version + "'");
    }
    Path dir = root.resolve(PayloadLayout.VERSIONS_DIR).resolve(version);
    Path manifestFile = root.resolve(InstallerContract.IMAGE_MANIFEST);
    Manifest manifest;
    try {
      String recorded = Files.readString(dir.resolve(PayloadLayout.VERSION_FILE)).strip();
      if (!recorded.equals(version)) {
        throw new PayloadException(
            Kind.BAD_IMAGE,
            dir.resolve(PayloadLayout.VERSION_FILE) + " says " + recorded + ", not " + version);
      }
      manifest = Manifest.parse(Files.readString(manifestFile), manifestFile.toString());
    } catch (IOException e) {
      throw new PayloadException(Kind.BAD_IMAGE, "cannot read the payload: " + e.getMessage(), e);
    }
    Map<String, String> files = manifest.under(PayloadLayout.VERSIONS_DIR + "/" + version);
    if (files.isEmpty()) {
      throw new PayloadException(
          Kind.BAD_IMAGE, manifestFile + " lists nothing under versions/" + version);
    }
    TreeSet<String> present = new TreeSet<>();
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.toList()) {
        if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) || Files.isSymbolicLink(p)) {
          present.add(dir.relativize(p).toString());
        }
      }
    } catch (IOException e) {
      throw new PayloadException(Kind.BAD_IMAGE, "cannot list " + dir + ": " + e.getMessage(), e);
    }
    var unlisted = new TreeSet<>(present);
    unlisted.removeAll(files.keySet());
    var missing = new TreeSet<>(files.keySet());
    missing.removeAll(present);
    if (!unlisted.isEmpty() || !missing.isEmpty()) {
      throw new PayloadException(
          Kind.BAD_IMAGE,
          manifestFile
              + " does not match versions/"
              + version
              + (unlisted.isEmpty() ? "" : "; not in the manifest: " + first(unlisted))
              + (missing.isEmpty() ? "" : "; missing from the image: " + first(missing))
              + "; rebuild the image (runtime-node-installer/image/make-manifest.sh)");
    }
    return new PayloadSource(root, version, files);
  }

  private static String first(TreeSet<String> s) {
    return String.join(", ", s.stream().limit(5).toList()) + (s.size() > 5 ? ", ..." : "");
  }
}
