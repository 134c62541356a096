package dev.kataoperator.contract;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The containerd distributions the installer knows ({@code spec.containerd.flavor}), with their
 * well-known host paths. {@link #auto} means: detect one of the others on the node.
 */
public enum ContainerdFlavor {
  auto(null, null, List.of(), List.of(), List.of()),
  containerd(
      "/etc/containerd/config.toml",
      "/run/containerd/containerd.sock",
      List.of("/etc/containerd/config.toml"),
      List.of("/usr/local/bin/containerd", "/usr/bin/containerd"),
      List.of("containerd.service")),
  /** k3s regenerates config.toml at every start from config.toml.tmpl when that exists. */
  k3s(
      "/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl",
      "/run/k3s/containerd/containerd.sock",
      List.of("/var/lib/rancher/k3s/agent/etc/containerd/config.toml"),
      List.of("/var/lib/rancher/k3s/data/current/bin/containerd"),
      List.of("k3s.service", "k3s-agent.service")),
  /** rke2, like k3s, renders config.toml from config.toml.tmpl. */
  rke2(
      "/var/lib/rancher/rke2/agent/etc/containerd/config.toml.tmpl",
      "/run/k3s/containerd/containerd.sock",
      List.of("/var/lib/rancher/rke2/agent/etc/containerd/config.toml"),
      List.of("/var/lib/rancher/rke2/bin/containerd"),
      List.of("rke2-server.service", "rke2-agent.service"));

  private final Path config;
  private final Path socket;
  private final List<Path> markers;
  private final List<Path> binaries;
  private final List<String> units;

  ContainerdFlavor(
      String config,
      String socket,
      List<String> markers,
      List<String> binaries,
      List<String> units) {
    this.config = config == null ? null : Path.of(config);
    this.socket = socket == null ? null : Path.of(socket);
    this.markers = markers.stream().map(Path::of).toList();
    this.binaries = binaries.stream().map(Path::of).toList();
    this.units = units;
  }

  /** Where this flavor's containerd serves its API (and CRI) by default (a host path). */
  public Path socket() {
    if (socket == null) {
      throw new IllegalStateException("flavor auto has no socket: detect the flavor first");
    }
    return socket;
  }

  /**
   * The config containerd itself reads: the file the installer edits, or for k3s and rke2 the file
   * they render from it.
   */
  public Path renderedConfig() {
    return usesTemplate() ? markers.getFirst() : config();
  }

  /** The file the installer edits for this flavor (a host path); not defined for auto. */
  public Path config() {
    if (config == null) {
      throw new IllegalStateException("flavor auto has no config: detect the flavor first");
    }
    return config;
  }

  /** Whether the installer edits a template that the distribution renders at start. */
  public boolean usesTemplate() {
    return this == k3s || this == rke2;
  }

  /** Host files whose presence says this flavor is installed. */
  public List<Path> markers() {
    return markers;
  }

  /** Where the flavor's containerd binary usually is (host paths), most specific first. */
  public List<Path> binaries() {
    return binaries;
  }

  /** systemd units that run this flavor's containerd, in the order to try them. */
  public List<String> units() {
    return units;
  }

  public String label() {
    return name();
  }

  /** {@code auto}, {@code containerd}, {@code k3s} or {@code rke2}; a clear error otherwise. */
  public static ContainerdFlavor parse(String s) {
    for (ContainerdFlavor f : values()) {
      if (f.name().equals(s)) {
        return f;
      }
    }
    throw new IllegalArgumentException(
        "containerd flavor must be auto, containerd, k3s or rke2: '" + s + "'");
  }

  /** Parses a flavor the user asked for; empty for {@link #auto}. */
  public static Optional<ContainerdFlavor> parseExplicit(String s) {
    ContainerdFlavor f = parse(s == null || s.isBlank() ? "auto" : s);
    return f == auto ? Optional.empty() : Optional.of(f);
  }

  /** The flavor a running containerd's config path belongs to. */
  public static ContainerdFlavor ofConfigPath(Path config) {
    if (config.startsWith("/var/lib/rancher/k3s")) {
      return k3s;
    }
    if (config.startsWith("/var/lib/rancher/rke2")) {
      return rke2;
    }
    return containerd;
  }
}
