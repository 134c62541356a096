package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kataoperator.installer.containerd.ContainerdConfig;
import dev.kataoperator.installer.containerd.ContainerdVersion;
import dev.kataoperator.installer.containerd.RuntimeHandler;
import dev.kataoperator.testsupport.Containerd;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The node the CRI tests run on: a private containerd whose config holds what a node's own would (a
 * CNI bridge network, the pause image) and the {@code kata-qemu} handler as the installer's own
 * {@link ContainerdConfig} writes it, pointing at the source tree's shim and guest; busybox and
 * pause imported. {@code ctr run --runtime io.containerd.kata-qemu.v2} finds the same shim on
 * containerd's PATH.
 */
final class CriFixture {
  static final String HANDLER = "kata-qemu";

  private final Containerd.Version version;
  private final Path dir;
  private final Path config;
  private final String bridge;
  private Containerd containerd;

  private CriFixture(Containerd.Version version, Path dir, Path config, String bridge) {
    this.version = version;
    this.dir = dir;
    this.config = config;
    this.bridge = bridge;
  }

  /**
   * Builds the images, writes the CNI network ({@code bridge}, {@code subnet}.0/24) and the config,
   * starts containerd in {@code dir} and imports the images into each of {@code namespaces}.
   */
  static CriFixture start(
      Containerd.Version version, Path dir, String bridge, String subnet, List<String> namespaces)
      throws Exception {
    Path images = Repo.root().resolve("build/images");
    for (String script : List.of("build-busybox.sh", "build-pause.sh")) {
      var b =
          new ProcessBuilder(
                  "bash", Repo.root().resolve("e2e/images/" + script).toString(), images.toString())
              .inheritIO()
              .start();
      assertEquals(0, b.waitFor(), script);
    }
    Path netd = dir.resolve("net.d");
    Files.createDirectories(netd);
    Files.writeString(
        netd.resolve("10-" + bridge + ".conflist"),
        """
        {"cniVersion":"1.0.0","name":"%s","plugins":[{"type":"bridge","bridge":"%s",
         "isGateway":true,"ipMasq":false,"ipam":{"type":"host-local",
         "ranges":[[{"subnet":"%s.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"%s"}}]}
        """
            .formatted(bridge, bridge, subnet, dir.resolve("ipam")));
    // What the node's administrator wrote; the installer adds the handler to it.
    Path config = dir.resolve("etc/config.toml");
    Files.createDirectories(config.getParent());
    Files.writeString(
        config,
        """
        version = 2
        disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
          "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
          "io.containerd.nri.v1.nri"]
        [plugins."io.containerd.grpc.v1.cri"]
          sandbox_image = "localhost/kata-pause:latest"
          [plugins."io.containerd.grpc.v1.cri".cni]
            bin_dir = "/usr/lib/cni"
            conf_dir = "%s"
        [plugins."io.containerd.internal.v1.opt"]
          path = "%s"
        """
            .formatted(netd, dir.resolve("opt")));
    var handler =
        new RuntimeHandler(
            HANDLER,
            Containerd.RUNTIME,
            Optional.of(Repo.root().resolve("shim/bin/containerd-shim-kata-qemu-v2").toString()),
            Repo.guestDir().resolve("kata-qemu.toml").toString(),
            true);
    new ContainerdConfig(Path.of("/"), config)
        .install(ContainerdVersion.parse(version.release()), List.of(handler));

    var fixture = new CriFixture(version, dir, config, bridge);
    fixture.startContainerd();
    for (String ns : namespaces) {
      for (String image : List.of("pause.tar", "busybox.tar")) {
        var r =
            fixture.containerd.ctr("-n", ns, "images", "import", images.resolve(image).toString());
        assertEquals(0, r.exit(), r.toString());
      }
    }
    return fixture;
  }

  Containerd containerd() {
    return containerd;
  }

  /** containerd's root, state and socket live here. */
  Path containerdDir() {
    return dir.resolve("containerd");
  }

  /** Stops containerd (SIGTERM, pods keep running) and starts it again on the same config. */
  Containerd restart() throws Exception {
    containerd.close();
    Thread.sleep(1000); // the pods run on without containerd for a while
    startContainerd();
    return containerd;
  }

  private void startContainerd() throws Exception {
    containerd =
        Containerd.builder(version, containerdDir())
            .config(config)
            .shimDir(Repo.root().resolve("shim/bin"))
            .devConfig(true)
            .requireCri(true)
            .start();
  }

  /** Removes every pod, stops containerd and deletes the bridge. */
  void stop() throws Exception {
    if (containerd != null) {
      containerd.crictl("rmp", "-af");
      containerd.close();
    }
    new ProcessBuilder("ip", "link", "del", bridge).start().waitFor();
  }
}
