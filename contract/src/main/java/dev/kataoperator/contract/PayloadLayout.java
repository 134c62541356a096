package dev.kataoperator.contract;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The node payload's layout under {@code /opt/kata} (docs/payload.md), and the names derived from a
 * runtime class. The values live in {@code payload-layout.env} next to this class, which the
 * payload scripts source, so the Java code and the shell scripts cannot disagree.
 *
 * <pre>
 * /opt/kata/bin/containerd-shim-&lt;class&gt;-v2 -&gt; ../current/bin/containerd-shim-&lt;class&gt;-v2
 * /opt/kata/current -&gt; versions/&lt;version&gt;
 * /opt/kata/versions/&lt;version&gt;/{bin,jre,lib,qemu,libexec,share/kata,share/defaults,VERSION}
 * </pre>
 */
public final class PayloadLayout {
  private PayloadLayout() {}

  /** The file's name, as a class-path resource next to this class and in the source tree. */
  public static final String ENV_FILE = "payload-layout.env";

  private static final Pattern LINE = Pattern.compile("^(KATA_[A-Z_]+)=([^\\s\"']+)$");
  private static final Map<String, String> VALUES = load();

  /** Where the payload is installed on a node. */
  public static final Path PREFIX = Path.of(value("KATA_PREFIX"));

  public static final String VERSIONS_DIR = value("KATA_VERSIONS_DIR");
  public static final String CURRENT_LINK = value("KATA_CURRENT_LINK");

  /** The version {@link #CURRENT_LINK} pointed to before the last switch, kept for rollback. */
  public static final String PREVIOUS_LINK = value("KATA_PREVIOUS_LINK");

  public static final String BIN_DIR = value("KATA_BIN_DIR");
  public static final String JRE_DIR = value("KATA_JRE_DIR");
  public static final String LIB_DIR = value("KATA_LIB_DIR");
  public static final String QEMU_DIR = value("KATA_QEMU_DIR");
  public static final String LIBEXEC_DIR = value("KATA_LIBEXEC_DIR");
  public static final String GUEST_DIR = value("KATA_GUEST_DIR");
  public static final String DEFAULTS_DIR = value("KATA_DEFAULTS_DIR");
  public static final String KERNEL = value("KATA_KERNEL");
  public static final String INITRD = value("KATA_INITRD");
  public static final String VERSION_FILE = value("KATA_VERSION_FILE");
  public static final String JVM_OPTIONS = value("KATA_JVM_OPTIONS");
  public static final String AOT_CACHE = value("KATA_AOT_CACHE");

  /** The shim's main class, which the launchers run. */
  public static final String SHIM_MAIN = value("KATA_SHIM_MAIN");

  /** Per-pod run directories of the shim on the host. */
  public static final Path SHIM_RUN_ROOT = Path.of(value("KATA_SHIM_RUN_ROOT"));

  /** Per-run directories of kata-run on the host. */
  public static final Path KATA_RUN_RUN_ROOT = Path.of(value("KATA_RUN_RUN_ROOT"));

  /** QEMU's launcher in a version's {@code bin/}, which each qemu runtime class links to. */
  public static final String QEMU_LAUNCHER = value("KATA_QEMU_LAUNCHER");

  /** QEMU's config template in a version's {@code share/defaults/}. */
  public static final String QEMU_CONFIG_TEMPLATE = value("KATA_QEMU_CONFIG_TEMPLATE");

  /**
   * The launcher in a version's {@code bin/} for runtime classes on {@code hypervisor}.
   *
   * @throws IllegalArgumentException for a hypervisor the payload has no launcher for
   */
  public static String launcher(Hypervisor hypervisor) {
    if (hypervisor != Hypervisor.qemu) {
      throw new IllegalArgumentException("the payload has no launcher for " + hypervisor);
    }
    return QEMU_LAUNCHER;
  }

  /** The config template in a version's {@code share/defaults/} for {@code hypervisor}. */
  public static String configTemplate(Hypervisor hypervisor) {
    if (hypervisor != Hypervisor.qemu) {
      throw new IllegalArgumentException("the payload has no config template for " + hypervisor);
    }
    return QEMU_CONFIG_TEMPLATE;
  }

  /** Every value, in file order (for tests and the scripts' cross-check). */
  public static Map<String, String> values() {
    return VALUES;
  }

  /** {@code containerd-shim-<class>-v2}: the binary containerd runs for a runtime type. */
  public static String shimBinary(String runtimeClass) {
    return "containerd-shim-" + runtimeClass + "-v2";
  }

  /** {@code io.containerd.<class>.v2}: the runtime type whose shim is {@link #shimBinary}. */
  public static String runtimeType(String runtimeClass) {
    return "io.containerd." + runtimeClass + ".v2";
  }

  /** {@code <class>.toml}: the shim configuration of a runtime class, in the defaults dir. */
  public static String configFile(String runtimeClass) {
    return runtimeClass + ".toml";
  }

  /** The launcher containerd runs for a runtime class, under a prefix ({@code bin/...}). */
  public static Path shimPath(Path prefix, String runtimeClass) {
    return prefix.resolve(BIN_DIR).resolve(shimBinary(runtimeClass));
  }

  /** The configuration of a runtime class, through the {@code current} link. */
  public static Path configPath(Path prefix, String runtimeClass) {
    return prefix.resolve(CURRENT_LINK).resolve(DEFAULTS_DIR).resolve(configFile(runtimeClass));
  }

  /** The directory of one installed version. */
  public static Path versionDir(Path prefix, String version) {
    return prefix.resolve(VERSIONS_DIR).resolve(version);
  }

  /** The default configuration of the kata-qemu class on a node. */
  public static Path defaultConfig() {
    return configPath(PREFIX, "kata-qemu");
  }

  private static String value(String key) {
    String v = VALUES.get(key);
    if (v == null) {
      throw new IllegalStateException(ENV_FILE + " has no " + key);
    }
    return v;
  }

  private static Map<String, String> load() {
    try (InputStream in = PayloadLayout.class.getResourceAsStream(ENV_FILE)) {
      if (in == null) {
        throw new IllegalStateException(ENV_FILE + " is missing from the class path");
      }
      return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + ENV_FILE, e);
    }
  }

  /** Parses the file: comments and blank lines skipped; anything else must be KATA_X=value. */
  static Map<String, String> parse(String text) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      String l = line.strip();
      if (l.isEmpty() || l.startsWith("#")) {
        continue;
      }
      var matcher = LINE.matcher(l);
      if (!matcher.matches()) {
        throw new IllegalStateException(ENV_FILE + ": not KATA_NAME=value: " + l);
      }
      if (m.put(matcher.group(1), matcher.group(2)) != null) {
        throw new IllegalStateException(ENV_FILE + ": " + matcher.group(1) + " twice");
      }
    }
    return java.util.Collections.unmodifiableMap(m);
  }
}
