package dev.kataoperator.installer.containerd;

import dev.kataoperator.contract.PayloadLayout;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * One CRI runtime handler to register with containerd: the name a RuntimeClass's {@code handler}
 * refers to, the shim containerd starts for it, and the Kata config file the shim reads.
 *
 * @param name the handler name, a DNS label like {@code kata-qemu}
 * @param runtimeType containerd's runtime type, e.g. {@code io.containerd.kata-qemu.v2}
 * @param runtimePath the shim binary; empty to let containerd derive it from the type and PATH
 * @param configPath the shim's configuration (CRI option {@code ConfigPath})
 * @param privilegedWithoutHostDevices keep host devices out of privileged pods: they would not
 *     exist in the VM anyway
 */
public record RuntimeHandler(
    String name,
    String runtimeType,
    Optional<String> runtimePath,
    String configPath,
    boolean privilegedWithoutHostDevices) {

  private static final Pattern DNS_LABEL = Pattern.compile("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?");
  private static final Pattern RUNTIME_TYPE = Pattern.compile("[A-Za-z0-9_.-]+");

  public RuntimeHandler {
    if (!DNS_LABEL.matcher(name).matches()) {
      throw new IllegalArgumentException(
          "runtime handler name must be a DNS label (a-z, 0-9, '-'): '" + name + "'");
    }
    if (!RUNTIME_TYPE.matcher(runtimeType).matches()) {
      throw new IllegalArgumentException("bad runtime_type '" + runtimeType + "'");
    }
  }

  /**
   * The handler of Kata runtime class {@code name} as the payload installs it: {@code
   * io.containerd.<name>.v2}, run from {@code /opt/kata/bin/containerd-shim-<name>-v2} with {@code
   * /opt/kata/current/share/defaults/<name>.toml} (layout: {@link PayloadLayout}).
   */
  public static RuntimeHandler kata(String name) {
    return kata(name, PayloadLayout.PREFIX);
  }

  /** The same, for a payload installed under {@code prefix} (tests use a private one). */
  public static RuntimeHandler kata(String name, Path prefix) {
    return new RuntimeHandler(
        name,
        PayloadLayout.runtimeType(name),
        Optional.of(PayloadLayout.shimPath(prefix, name).toString()),
        PayloadLayout.configPath(prefix, name).toString(),
        true);
  }

  /** The handler's TOML tables in {@code schema}, each line ending in a newline. */
  String toToml(ConfigSchema schema) {
    String table = schema.runtimeTable(name);
    var b = new StringBuilder();
    b.append('[').append(table).append("]\n");
    b.append("  runtime_type = ").append(TomlStrings.quote(runtimeType)).append('\n');
    runtimePath.ifPresent(
        p -> b.append("  runtime_path = ").append(TomlStrings.quote(p)).append('\n'));
    b.append("  privileged_without_host_devices = ")
        .append(privilegedWithoutHostDevices)
        .append('\n');
    b.append('[').append(table).append(".options]\n");
    b.append("  ConfigPath = ").append(TomlStrings.quote(configPath)).append('\n');
    return b.toString();
  }
}
