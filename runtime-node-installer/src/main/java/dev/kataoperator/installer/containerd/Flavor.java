package dev.kataoperator.installer.containerd;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** The containerd distributions the installer knows, with their well-known host paths. */
public enum Flavor {
  CONTAINERD(
      "/etc/containerd/config.toml",
      List.of("/etc/containerd/config.toml"),
      List.of("/usr/local/bin/containerd", "/usr/bin/containerd")),
  /** k3s regenerates config.toml at start from config.toml.tmpl when that exists. */
  K3S(
      "/var/lib/rancher/k3s/agent/etc/containerd/config.toml.tmpl",
      List.of("/var/lib/rancher/k3s/agent/etc/containerd/config.toml"),
      List.of("/var/lib/rancher/k3s/data/current/bin/containerd")),
  RKE2(
      "/var/lib/rancher/rke2/agent/etc/containerd/config.toml.tmpl",
      List.of("/var/lib/rancher/rke2/agent/etc/containerd/config.toml"),
      List.of("/var/lib/rancher/rke2/bin/containerd"));

  private final Path config;
  private final List<Path> markers;
  private final List<Path> binaries;

  Flavor(String config, List<String> markers, List<String> binaries) {
    this.config = Path.of(config);
    this.markers = markers.stream().map(Path::of).toList();
    this.binaries = binaries.stream().map(Path::of).toList();
  }

  /** The file the installer edits for this flavor (a host path). */
  public Path config() {
    return config;
  }

  /** Host files whose presence says this flavor is installed. */
  List<Path> markers() {
    return markers;
  }

  /** Where the flavor's containerd binary usually is (host paths), most specific first. */
  List<Path> binaries() {
    return binaries;
  }

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** {@code containerd}, {@code k3s} or {@code rke2} (the KataConfig's spelling). */
  public static Flavor parse(String s) {
    for (Flavor f : values()) {
      if (f.label().equals(s)) {
        return f;
      }
    }
    throw new IllegalArgumentException("containerd flavor must be containerd, k3s or rke2: " + s);
  }

  /** The flavor a running containerd's config path belongs to. */
  static Flavor ofConfigPath(Path config) {
    if (config.startsWith("/var/lib/rancher/k3s")) {
      return K3S;
    }
    if (config.startsWith("/var/lib/rancher/rke2")) {
      return RKE2;
    }
    return CONTAINERD;
  }
}
