package dev.kataoperator.installer.containerd;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A containerd release, as {@code containerd --version} prints it: {@code containerd
 * github.com/containerd/containerd 1.6.20~ds1 ...} (Debian), {@code containerd
 * github.com/containerd/containerd/v2 2.2.7 ...}, {@code containerd github.com/k3s-io/containerd
 * v1.7.21-k3s2 ...}.
 */
public record ContainerdVersion(int major, int minor, int patch)
    implements Comparable<ContainerdVersion> {

  /** The oldest release whose configuration this installer writes. */
  public static final ContainerdVersion OLDEST_SUPPORTED = new ContainerdVersion(1, 6, 0);

  private static final Pattern VERSION_OUTPUT =
      Pattern.compile("^containerd\\s+\\S+\\s+v?(\\d+)\\.(\\d+)\\.(\\d+)");
  private static final Pattern PLAIN = Pattern.compile("^v?(\\d+)\\.(\\d+)\\.(\\d+)");

  /** Parses the first line of {@code containerd --version}. */
  public static Optional<ContainerdVersion> parseVersionOutput(String output) {
    var m = VERSION_OUTPUT.matcher(output.strip());
    return m.find() ? Optional.of(of(m)) : Optional.empty();
  }

  /** Parses {@code 1.7.21}, {@code v2.2.7}, {@code 1.6.20~ds1}. */
  public static ContainerdVersion parse(String version) {
    var m = PLAIN.matcher(version.strip());
    if (!m.find()) {
      throw new IllegalArgumentException("not a containerd version: '" + version + "'");
    }
    return of(m);
  }

  private static ContainerdVersion of(java.util.regex.Matcher m) {
    return new ContainerdVersion(
        Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
  }

  public boolean isSupported() {
    return compareTo(OLDEST_SUPPORTED) >= 0;
  }

  @Override
  public int compareTo(ContainerdVersion o) {
    int c = Integer.compare(major, o.major);
    if (c == 0) {
      c = Integer.compare(minor, o.minor);
    }
    return c != 0 ? c : Integer.compare(patch, o.patch);
  }

  @Override
  public String toString() {
    return major + "." + minor + "." + patch;
  }
}
