package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.sandbox.RunDirs;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pod's share against a hostile guest (real mounts, no VM): a thread standing in for a root
 * guest works on the share directory the VM is given, trying to turn every entry that appears into
 * a symlink to a host directory, while the host binds containers' rootfs and volumes. Nothing the
 * host mounts may land outside the share, a read-only volume must stay read-only, and the guest
 * must not be able to create anything at the share's root.
 */
@Tag("root")
@Timeout(120)
class HostMountsTest {
  @TempDir Path tmp;
  Path binds;
  Path share;
  Path staging;
  Path hostDir;

  @BeforeEach
  void setUp() throws IOException {
    binds = tmp.resolve("run/mounts");
    share = tmp.resolve("run/shared");
    staging = tmp.resolve("run/staging");
    hostDir = Files.createDirectories(tmp.resolve("host-secrets"));
    Files.writeString(hostDir.resolve("passwd"), "root:x:0:0\n");
    HostMounts.makeShare(binds, share, staging);
  }

  @AfterEach
  void tearDown() {
    HostMounts.unmountAllUnder(tmp);
    assertEquals(Set.of(), RunDirs.mountPointsUnder(tmp), "mounts left behind");
  }

  @Test
  void aGuestSwappingShareEntriesForSymlinksSteersNoMount() throws Exception {
    Path rootfs = Files.createDirectories(tmp.resolve("rootfs"));
    Files.writeString(rootfs.resolve("hello"), "from the image\n");
    Path volume = Files.createDirectories(tmp.resolve("volume"));
    Files.writeString(volume.resolve("data"), "host data\n");
    Path roVolume = Files.createDirectories(tmp.resolve("ro-volume"));
    Files.writeString(roVolume.resolve("config"), "do not change\n");

    var stop = new AtomicBoolean();
    var attempts = new AtomicInteger();
    var succeeded = new java.util.concurrent.CopyOnWriteArrayList<String>();
    Thread guest =
        Thread.ofPlatform()
            .start(
                () -> {
                  while (!stop.get()) {
                    for (Path p : hostMadeEntries(share)) {
                      attempts.incrementAndGet();
                      try {
                        Path aside = p.resolveSibling(p.getFileName() + ".gone");
                        Files.move(p, aside);
                        Files.createSymbolicLink(p, hostDir);
                        succeeded.add(p.toString());
                      } catch (IOException e) {
                        // read-only: what the host relies on
                      }
                    }
                  }
                });
    try {
      for (int i = 0; i < 40; i++) {
        Path c = binds.resolve("c" + i);
        HostMounts.bind(rootfs, c.resolve("rootfs"), false, staging);
        HostMounts.bind(volume, c.resolve("mounts/0-volume"), false, staging);
        HostMounts.bind(roVolume, c.resolve("mounts/1-ro-volume"), true, staging);
        HostMounts.bind(roVolume.resolve("config"), c.resolve("mounts/2-config"), true, staging);
      }
    } finally {
      stop.set(true);
      guest.join();
    }
    assertTrue(attempts.get() > 0, "the guest never found an entry to attack");
    assertEquals(List.of(), succeeded, "the guest replaced share entries");
    assertEquals(Set.of(), RunDirs.mountPointsUnder(hostDir), "a mount landed on a host path");
    try (Stream<Path> s = Files.list(hostDir)) {
      assertEquals(List.of(hostDir.resolve("passwd")), s.toList());
    }
    for (String root : List.of("escape", ".hidden")) {
      assertThrows(FileSystemException.class, () -> Files.createDirectory(share.resolve(root)));
      assertThrows(
          FileSystemException.class, () -> Files.createSymbolicLink(share.resolve(root), hostDir));
    }

    // What the guest sees through the share, for the last container.
    Path seen = share.resolve("c39");
    assertEquals("from the image\n", Files.readString(seen.resolve("rootfs/hello")));
    Files.writeString(seen.resolve("rootfs/written-by-the-container"), "ok");
    Files.writeString(seen.resolve("mounts/0-volume/written"), "ok");
    assertEquals("ok", Files.readString(volume.resolve("written")), "rw volume reaches the host");
    assertThrows(
        FileSystemException.class,
        () -> Files.writeString(seen.resolve("mounts/1-ro-volume/config"), "changed"));
    assertThrows(
        FileSystemException.class,
        () -> Files.writeString(seen.resolve("mounts/1-ro-volume/new"), "x"));
    assertThrows(
        FileSystemException.class,
        () -> Files.writeString(seen.resolve("mounts/2-config"), "changed"));
    assertEquals("do not change\n", Files.readString(roVolume.resolve("config")));
    assertTrue(!Files.exists(roVolume.resolve("new")));
    try (Stream<Path> s = Files.list(staging)) {
      assertEquals(List.of(), s.toList(), "staging keeps nothing");
    }
  }

  /**
   * A read-only volume with a filesystem mounted below it (a hostPath over a node directory with
   * mounts) is read-only all the way down, in the binds and in the guest's view: a remount would
   * make only its top read-only.
   */
  @Test
  void aReadOnlyVolumeIsReadOnlyWithEverythingMountedBelowIt() throws Exception {
    Path volume = Files.createDirectories(tmp.resolve("ro-volume"));
    Path below = Files.createDirectories(volume.resolve("data"));
    mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", below.toString());
    Files.writeString(below.resolve("file"), "on the submount\n");
    Path c = binds.resolve("c1");

    HostMounts.bind(volume, c.resolve("mounts/0-ro-volume"), true, staging);

    for (Path seen : List.of(c, share.resolve("c1"))) {
      Path sub = seen.resolve("mounts/0-ro-volume/data");
      assertEquals("on the submount\n", Files.readString(sub.resolve("file")));
      assertThrows(FileSystemException.class, () -> Files.writeString(sub.resolve("file"), "x"));
      assertThrows(FileSystemException.class, () -> Files.writeString(sub.resolve("new"), "x"));
      assertThrows(
          FileSystemException.class,
          () -> Files.writeString(seen.resolve("mounts/0-ro-volume/new"), "x"));
    }
    assertEquals("on the submount\n", Files.readString(below.resolve("file")));
    Files.writeString(below.resolve("host-side"), "the host's own mount stays writable");
  }

  /**
   * What a guest's root leaves in a read-write volume, a setuid-root binary and a device node (QEMU
   * has no CAP_MKNOD; here the host's root stands in), means nothing on the host through the share:
   * every bind and what is mounted below it is nosuid and nodev, in both the binds and the guest's
   * view. The volume's own mount is the host's and keeps its flags.
   */
  @Test
  void aSetuidBinaryOrDeviceNodeInAVolumeMeansNothingThroughTheShare() throws Exception {
    Files.setPosixFilePermissions(
        tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    Path volume = Files.createDirectories(tmp.resolve("rw-volume"));
    Path below = Files.createDirectories(volume.resolve("data"));
    mount("-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", below.toString());
    for (Path d : List.of(volume, below)) {
      Files.copy(Path.of("/usr/bin/id"), d.resolve("id"));
      Files.setPosixFilePermissions(
          d.resolve("id"), java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
      ok("chmod", "4755", d.resolve("id").toString());
      ok("mknod", d.resolve("null").toString(), "c", "1", "3");
    }
    Path c = binds.resolve("c1");

    HostMounts.bind(volume, c.resolve("mounts/0-rw-volume"), false, staging);

    if (!mountOptions(volume).contains("nosuid")) {
      // The control: on the volume's own mount the bit works, so the share's refusal is the test.
      assertEquals(
          "0",
          ok(
              "setpriv",
              "--reuid=65534",
              "--regid=65534",
              "--clear-groups",
              volume.resolve("id").toString(),
              "-u"));
    }
    for (Path seen : List.of(c, share.resolve("c1"))) {
      for (Path d :
          List.of(seen.resolve("mounts/0-rw-volume"), seen.resolve("mounts/0-rw-volume/data"))) {
        assertTrue(
            mountOptions(d).containsAll(List.of("nosuid", "nodev")), d + ": " + mountOptions(d));
        assertEquals(
            "65534",
            ok(
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                d.resolve("id").toString(),
                "-u"),
            "the setuid bit of " + d.resolve("id") + " is ignored");
        assertThrows(
            java.nio.file.AccessDeniedException.class,
            () -> Files.newInputStream(d.resolve("null")).close(),
            "the device node " + d.resolve("null") + " cannot be opened");
      }
    }
    assertTrue(Files.isWritable(c.resolve("mounts/0-rw-volume/data/id")), "still read-write");
  }

  /**
   * On a systemd node {@code /} is a shared mount with peers and slaves in other namespaces; a
   * shared bind with a peer namespace stands in for it. Nothing a pod mounts below the shims' run
   * root reaches that namespace, and keeping the root private is done once however often asked.
   */
  @Test
  void nothingMountedForAPodReachesTheNodesOtherMountNamespaces() throws Exception {
    Path node = Files.createDirectories(tmp.resolve("node"));
    mount("--bind", node.toString(), node.toString());
    mount("--make-shared", node.toString());
    Process peer =
        new ProcessBuilder("unshare", "--mount", "--propagation", "unchanged", "sleep", "120")
            .start();
    try {
      Path comm = Path.of("/proc", "" + peer.pid(), "comm");
      for (int i = 0; i < 100 && !Files.readString(comm).strip().equals("sleep"); i++) {
        Thread.sleep(50);
      }
      Path root = node.resolve("shim");
      HostMounts.keepPrivate(root);
      HostMounts.keepPrivate(root);
      Path pod = root.resolve("k8s.io/pod1");
      Path volume = Files.createDirectories(tmp.resolve("volume"));
      HostMounts.makeShare(pod.resolve("mounts"), pod.resolve("shared"), pod.resolve("staging"));
      HostMounts.bind(
          volume, pod.resolve("mounts/c1/mounts/0-volume"), false, pod.resolve("staging"));
      HostMounts.bind(
          volume, pod.resolve("mounts/c1/mounts/1-config"), true, pod.resolve("staging"));

      assertTrue(RunDirs.mountPointsUnder(pod).size() >= 5, "" + RunDirs.mountPointsUnder(pod));
      List<String> inPeer =
          Files.readAllLines(Path.of("/proc", "" + peer.pid(), "mountinfo")).stream()
              .map(l -> l.split(" ")[4])
              .filter(p -> p.startsWith(pod.toString()))
              .toList();
      assertEquals(List.of(), inPeer, "the pod's mounts seen from another namespace");
      long rootMounts =
          Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
              .filter(l -> l.split(" ")[4].equals(root.toString()))
              .count();
      assertEquals(1, rootMounts, "the root is bound onto itself once");
    } finally {
      peer.destroyForcibly().waitFor();
    }
  }

  /** The per-mount options (mountinfo's sixth field) of the mount {@code p} is on. */
  private static List<String> mountOptions(Path p) throws Exception {
    return List.of(ok("findmnt", "-n", "-o", "VFS-OPTIONS", "-T", p.toString()).split(","));
  }

  private static String ok(String... cmd) throws Exception {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes()).strip();
    assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    return out;
  }

  private static void mount(String... args) throws Exception {
    var cmd = new java.util.ArrayList<>(List.of("mount"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
  }

  @Test
  void unmountingAContainersBindsTakesItsShareViewWithThem() throws Exception {
    Path rootfs = Files.createDirectories(tmp.resolve("rootfs"));
    Path c = binds.resolve("c1");
    HostMounts.bind(rootfs, c.resolve("rootfs"), false, staging);
    HostMounts.bind(rootfs, c.resolve("mounts/0-ro"), true, staging);
    assertEquals(2, RunDirs.mountPointsUnder(share.resolve("c1")).size(), "the view follows");
    HostMounts.unmountAllUnder(share.resolve("c1"));
    HostMounts.unmountAllUnder(c);
    assertEquals(Set.of(), RunDirs.mountPointsUnder(share.resolve("c1")));
    assertEquals(Set.of(), RunDirs.mountPointsUnder(c));
    RunDirs.deleteQuietly(c);
    assertTrue(!Files.exists(share.resolve("c1"), LinkOption.NOFOLLOW_LINKS));
  }

  /**
   * What the host creates in a share and later mounts on or resolves through: a container's
   * directory, its mounts directory, its mount points; not what is inside a rootfs or a volume,
   * which the container owns.
   */
  private static List<Path> hostMadeEntries(Path share) {
    try (Stream<Path> s = Files.walk(share, 3)) {
      return s.filter(
              p -> {
                Path rel = share.relativize(p);
                int n = rel.getNameCount();
                return !rel.toString().isEmpty()
                    && (n <= 2 || (n == 3 && rel.getName(1).toString().equals("mounts")));
              })
          .toList();
    } catch (IOException | java.io.UncheckedIOException e) {
      return List.of(); // changing under the walk
    }
  }
}
