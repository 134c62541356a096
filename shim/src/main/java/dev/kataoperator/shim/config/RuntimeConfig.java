package dev.kataoperator.shim.config;

import dev.kataoperator.shim.hypervisor.Accelerator;
import dev.kataoperator.shim.hypervisor.VmConfig.ShareKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

/**
 * The per-runtime-class configuration (e.g. share/defaults/kata-qemu.toml), read and validated
 * once. Unknown keys and bad values are errors, never silent defaults. Relative paths are resolved
 * against the file's directory, so a payload tree can be moved as a whole.
 *
 * <pre>
 * [hypervisor]
 * path = "../../qemu/bin/qemu-system-x86_64"
 * kernel = "../kata/vmlinux"
 * initrd = "../kata/rootfs.cpio.gz"
 * default_memory = 256      # MiB
 * default_vcpus = 1
 * shared_fs = "virtio-9p"   # or "virtio-fs"
 * virtiofsd = "../../libexec/virtiofsd"
 * accel = "auto"            # auto | kvm | tcg
 * kernel_params = []
 *
 * [agent]
 * boot_timeout = 30         # seconds until the agent must answer
 * call_timeout = 60         # seconds for each call that should answer promptly (signal, remove,
 *                           # exec, stats...); the waits and reads have none: the VM's end ends them
 * shutdown_timeout = 20     # seconds the guest gets to power off before the VM is killed
 *
 * [runtime]
 * debug = false
 * create_container_timeout = 60  # seconds the guest gets to create a container (Kata's key)
 *
 * [factory]                 # Kata's keys
 * enable_template = false   # restore VMs from a template instead of booting them (VmTemplates)
 * template_path = "/run/kata/templates"
 * </pre>
 */
public record RuntimeConfig(
    Path source,
    Path qemuPath,
    Path kernel,
    Path initrd,
    int defaultMemoryMiB,
    int defaultVcpus,
    ShareKind sharedFs,
    Optional<Path> virtiofsd,
    Accelerator.Mode accel,
    List<String> kernelParams,
    Duration agentBootTimeout,
    Duration agentCallTimeout,
    Duration agentShutdownTimeout,
    boolean debug,
    Duration createContainerTimeout,
    Optional<Path> templates) {

  private static final Set<String> TOP = Set.of("hypervisor", "agent", "runtime", "factory");
  private static final Set<String> FACTORY = Set.of("enable_template", "template_path");
  static final Path DEFAULT_TEMPLATE_PATH = Path.of("/run/kata/templates");
  private static final Set<String> HYPERVISOR =
      Set.of(
          "path",
          "kernel",
          "initrd",
          "default_memory",
          "default_vcpus",
          "shared_fs",
          "virtiofsd",
          "accel",
          "kernel_params");
  private static final Set<String> AGENT =
      Set.of("boot_timeout", "call_timeout", "shutdown_timeout");
  private static final Set<String> RUNTIME = Set.of("debug", "create_container_timeout");

  /** Reads and validates {@code file}. */
  public static RuntimeConfig load(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new ConfigException(file, "cannot read: " + e.getMessage());
    }
    return parse(file, text);
  }

  /** Parses {@code text} as if read from {@code file} (relative paths resolve against it). */
  public static RuntimeConfig parse(Path file, String text) {
    TomlParseResult toml = Toml.parse(text);
    if (toml.hasErrors()) {
      throw new ConfigException(file, "not valid TOML: " + toml.errors().getFirst());
    }
    onlyKeys(file, "", toml, TOP);
    TomlTable hv = table(file, toml, "hypervisor", true);
    TomlTable agent = table(file, toml, "agent", false);
    TomlTable runtime = table(file, toml, "runtime", false);
    TomlTable factory = table(file, toml, "factory", false);
    onlyKeys(file, "hypervisor.", hv, HYPERVISOR);
    onlyKeys(file, "agent.", agent, AGENT);
    onlyKeys(file, "runtime.", runtime, RUNTIME);
    onlyKeys(file, "factory.", factory, FACTORY);

    Path base = file.toAbsolutePath().getParent();
    int memory = intIn(file, hv, "hypervisor.default_memory", "default_memory", 256, 64, 1 << 20);
    int vcpus = intIn(file, hv, "hypervisor.default_vcpus", "default_vcpus", 1, 1, 256);
    ShareKind shared =
        switch (string(file, hv, "shared_fs", "virtio-9p")) {
          case "virtio-9p" -> ShareKind.VIRTIO_9P;
          case "virtio-fs" -> ShareKind.VIRTIO_FS;
          case String other ->
              throw new ConfigException(
                  file, "hypervisor.shared_fs must be virtio-9p or virtio-fs, got '" + other + "'");
        };
    Accelerator.Mode accel;
    try {
      accel = Accelerator.Mode.parse(string(file, hv, "accel", "auto"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(file, "hypervisor." + e.getMessage());
    }
    Optional<Path> virtiofsd =
        hv.contains("virtiofsd")
            ? Optional.of(path(file, base, hv, "virtiofsd"))
            : Optional.empty();
    if (shared == ShareKind.VIRTIO_FS && virtiofsd.isEmpty()) {
      throw new ConfigException(file, "hypervisor.shared_fs = \"virtio-fs\" needs virtiofsd");
    }
    List<String> params = new ArrayList<>();
    if (hv.contains("kernel_params")) {
      if (!hv.isArray("kernel_params")) {
        throw new ConfigException(file, "hypervisor.kernel_params must be an array of strings");
      }
      for (Object o : hv.getArrayOrEmpty("kernel_params").toList()) {
        if (!(o instanceof String s) || s.isBlank() || s.matches(".*\\s.*")) {
          throw new ConfigException(
              file, "hypervisor.kernel_params entries must be single words, got '" + o + "'");
        }
        params.add(s);
      }
    }
    int bootTimeout = intIn(file, agent, "agent.boot_timeout", "boot_timeout", 30, 1, 600);
    int callTimeout = intIn(file, agent, "agent.call_timeout", "call_timeout", 60, 1, 600);
    int shutdownTimeout =
        intIn(file, agent, "agent.shutdown_timeout", "shutdown_timeout", 20, 1, 600);
    boolean debug = bool(file, runtime, "runtime.debug", "debug");
    // A node starting many pods at once shares its CPUs among their guests: raise it there.
    int createTimeout =
        intIn(
            file,
            runtime,
            "runtime.create_container_timeout",
            "create_container_timeout",
            60,
            1,
            3600);
    Optional<Path> templates =
        bool(file, factory, "factory.enable_template", "enable_template")
            ? Optional.of(
                factory.contains("template_path")
                    ? path(file, base, factory, "template_path")
                    : DEFAULT_TEMPLATE_PATH)
            : Optional.empty();
    return new RuntimeConfig(
        file,
        path(file, base, hv, "path"),
        path(file, base, hv, "kernel"),
        path(file, base, hv, "initrd"),
        memory,
        vcpus,
        shared,
        virtiofsd,
        accel,
        List.copyOf(params),
        Duration.ofSeconds(bootTimeout),
        Duration.ofSeconds(callTimeout),
        Duration.ofSeconds(shutdownTimeout),
        debug,
        Duration.ofSeconds(createTimeout),
        templates);
  }

  private static TomlTable table(Path file, TomlTable root, String key, boolean required) {
    if (!root.contains(key)) {
      if (required) {
        throw new ConfigException(file, "missing section [" + key + "]");
      }
      return Toml.parse("");
    }
    if (!root.isTable(key)) {
      throw new ConfigException(file, key + " must be a table [" + key + "]");
    }
    return root.getTable(key);
  }

  private static void onlyKeys(Path file, String prefix, TomlTable t, Set<String> allowed) {
    for (String k : t.keySet()) {
      if (!allowed.contains(k)) {
        throw new ConfigException(
            file, "unknown key " + prefix + k + " (known: " + String.join(", ", allowed) + ")");
      }
    }
  }

  private static String string(Path file, TomlTable t, String key, String dflt) {
    if (!t.contains(key)) {
      return dflt;
    }
    if (!t.isString(key)) {
      throw new ConfigException(file, "hypervisor." + key + " must be a string");
    }
    return t.getString(key);
  }

  private static Path path(Path file, Path base, TomlTable t, String key) {
    if (!t.contains(key)) {
      throw new ConfigException(file, "missing hypervisor." + key);
    }
    String s = string(file, t, key, "");
    if (s.isBlank() || s.indexOf('\0') >= 0) {
      throw new ConfigException(file, "hypervisor." + key + " must be a path");
    }
    return base.resolve(s).normalize();
  }

  private static int intIn(
      Path file, TomlTable t, String name, String key, int dflt, int min, int max) {
    if (!t.contains(key)) {
      return dflt;
    }
    if (!t.isLong(key)) {
      throw new ConfigException(file, name + " must be an integer");
    }
    long v = t.getLong(key);
    if (v < min || v > max) {
      throw new ConfigException(file, name + " must be in " + min + ".." + max + ", got " + v);
    }
    return (int) v;
  }

  private static boolean bool(Path file, TomlTable t, String name, String key) {
    if (!t.contains(key)) {
      return false;
    }
    if (!t.isBoolean(key)) {
      throw new ConfigException(file, name + " must be true or false");
    }
    return t.getBoolean(key);
  }
}
