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
 * CNI bridge network, the pause image: the files in e2e/fixtures/cri, which {@code make demo} uses
 * too) and the {@code kata-qemu} handler as the installer's own {@link ContainerdConfig} writes it,
 * pointing at the source tree's shim and guest; busybox and pause imported. {@code ctr run
 * --runtime io.containerd.kata-qemu.v2} finds the same shim on containerd's PATH.
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
    Path fixtures = Repo.root().resolve("e2e/fixtures/cri");
    Path netd = dir.resolve("net.d");
    Files.createDirectories(netd);
    Files.writeString(
        netd.resolve("10-" + bridge + ".conflist"),
        Files.readString(fixtures.resolve("bridge.conflist"))
            .replace("@NAME@", bridge)
            .replace("@SUBNET@", subnet)
            .replace("@IPAM_DIR@", dir.resolve("ipam").toString()));
    // What the node's administrator wrote; the installer adds the handler to it.
    Path config = dir.resolve("etc/config.toml");
    Files.createDirectories(config.getParent());
    Files.writeString(
        config,
        Files.readString(fixtures.resolve("containerd.toml"))
            .replace("@NETD@", netd.toString())
            .replace("@OPT@", dir.resolve("opt").toString()));
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
