package dev.kataoperator.installer.containerd;

/**
 * The two shapes of containerd's config that carry CRI runtime handlers. Version 2 (containerd 1.x,
 * still read by 2.x, which migrates it as a whole at start) keeps them under the {@code
 * io.containerd.grpc.v1.cri} plugin; version 3 (containerd 2.x) under {@code
 * io.containerd.cri.v1.runtime}.
 */
public enum ConfigSchema {
  V2(2, "io.containerd.grpc.v1.cri"),
  V3(3, "io.containerd.cri.v1.runtime");

  private final int version;
  private final String criPlugin;

  ConfigSchema(int version, String criPlugin) {
    this.version = version;
    this.criPlugin = criPlugin;
  }

  /** The value of the config's top-level {@code version} key. */
  public int version() {
    return version;
  }

  /** The plugin whose {@code containerd.runtimes} table holds the runtime handlers. */
  public String criPlugin() {
    return criPlugin;
  }

  /** The TOML table header of runtime handler {@code name}, e.g. for {@code kata-qemu}. */
  public String runtimeTable(String name) {
    return "plugins.\"" + criPlugin + "\".containerd.runtimes." + name;
  }

  /** The same path as tomlj keys. */
  public java.util.List<String> runtimesPath() {
    return java.util.List.of("plugins", criPlugin, "containerd", "runtimes");
  }
}
