package dev.kataoperator.installer.payload;

import dev.kataoperator.installer.payload.PayloadException.Kind;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The payload's manifest: {@code sha256sum} output ({@code <64 hex> <path>}, or {@code *<path>} in
 * binary mode), paths relative to the payload root. A symbolic link is listed with the digest of
 * what it points to, as sha256sum reads it.
 *
 * @param digests lower-case hex digest by relative path, sorted
 */
public record Manifest(Map<String, String> digests) {
  private static final Pattern LINE = Pattern.compile("^([0-9a-fA-F]{64}) [ *](.+)$");

  public static Manifest parse(String text, String source) throws PayloadException {
    Map<String, String> m = new TreeMap<>();
    int n = 0;
    for (String line : text.split("\n", -1)) {
      n++;
      if (line.isEmpty()) {
        continue;
      }
      var matcher = LINE.matcher(line);
      if (!matcher.matches()) {
        throw new PayloadException(
            Kind.BAD_IMAGE, source + " line " + n + " is not sha256sum output: " + line);
      }
      String path = matcher.group(2);
      Path p = Path.of(path);
      if (p.isAbsolute()
          || !p.normalize().equals(p)
          || path.startsWith("../")
          || path.contains("\\")) {
        throw new PayloadException(
            Kind.BAD_IMAGE, source + " line " + n + ": not a plain relative path: " + path);
      }
      if (m.put(path, matcher.group(1).toLowerCase(java.util.Locale.ROOT)) != null) {
        throw new PayloadException(Kind.BAD_IMAGE, source + " lists " + path + " twice");
      }
    }
    return new Manifest(Collections.unmodifiableMap(m));
  }

  /** Entries under {@code dir/} (a relative directory), keyed by their path below it. */
  public Map<String, String> under(String dir) {
    String prefix = dir.endsWith("/") ? dir : dir + "/";
    Map<String, String> out = new TreeMap<>();
    digests.forEach(
        (k, v) -> {
          if (k.startsWith(prefix)) {
            out.put(k.substring(prefix.length()), v);
          }
        });
    return Collections.unmodifiableMap(out);
  }
}
