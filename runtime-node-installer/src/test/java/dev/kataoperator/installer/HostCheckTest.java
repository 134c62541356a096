package dev.kataoperator.installer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.Virtualization;
import dev.kataoperator.contract.VirtualizationPolicy;
import dev.kataoperator.installer.HostCheck.Verdict;
import dev.kataoperator.installer.containerd.ContainerdInstallation;
import dev.kataoperator.installer.containerd.ContainerdVersion;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class HostCheckTest {
  static final HostVirtualization HARDWARE = new HostVirtualization(Virtualization.hardware, "vmx");
  static final HostVirtualization NESTED =
      new HostVirtualization(Virtualization.nested, "nested vmx");
  static final HostVirtualization PVM = new HostVirtualization(Virtualization.pvm, "kvm_pvm");
  static final HostVirtualization NONE = new HostVirtualization(Virtualization.none, "no /dev/kvm");

  static final Path SOCKET = Path.of("/run/containerd/containerd.sock");

  static ContainerdInstallation containerd(String version) {
    return new ContainerdInstallation(
        ContainerdFlavor.containerd,
        Path.of("/etc/containerd/config.toml"),
        true,
        SOCKET,
        Optional.of(
            new ContainerdInstallation.Running(
                402, SOCKET, Path.of("/etc/containerd/config.toml"), "containerd")),
        Optional.ofNullable(version).map(ContainerdVersion::parse),
        version == null ? "containerd garbage" : "containerd " + version,
        "CRI socket " + SOCKET,
        List.of());
  }

  static final ContainerdInstallation OK = containerd("1.6.20");

  static HostCheck decide(
      HostVirtualization v,
      boolean tun,
      CgroupLayout cg,
      ContainerdInstallation c,
      VirtualizationPolicy p) {
    return HostCheck.decide(v, tun, cg, c, p);
  }

  @Test
  void kvmWhereHardwareOrNestedVirtualizationWorksWhateverThePolicy() {
    for (var v : List.of(HARDWARE, NESTED)) {
      for (var p : VirtualizationPolicy.values()) {
        var c = decide(v, true, CgroupLayout.V2, OK, p);
        assertEquals(Verdict.KVM, c.verdict(), c.reason());
        assertTrue(c.reason().startsWith("KVM: "), c.reason());
      }
    }
  }

  @Test
  void softwareEmulationOnlyWhenThePolicyAllowsIt() {
    for (var v : List.of(PVM, NONE)) {
      var allowed =
          decide(v, true, CgroupLayout.HYBRID, OK, VirtualizationPolicy.AllowSoftwareEmulation);
      assertEquals(Verdict.SOFTWARE_EMULATION, allowed.verdict());
      assertTrue(allowed.reason().contains(v.reason()), allowed.reason());
      var required = decide(v, true, CgroupLayout.HYBRID, OK, VirtualizationPolicy.RequireHardware);
      assertEquals(Verdict.UNSUPPORTED, required.verdict());
      assertTrue(required.reason().contains("AllowSoftwareEmulation"), required.reason());
      assertTrue(required.reason().contains(v.reason()), required.reason());
    }
  }

  @Test
  void blockersComeFirstWithTheirOwnReason() {
    var allow = VirtualizationPolicy.AllowSoftwareEmulation;
    var notRunning =
        new ContainerdInstallation(
            ContainerdFlavor.k3s,
            ContainerdFlavor.k3s.config(),
            false,
            ContainerdFlavor.k3s.socket(),
            Optional.empty(),
            Optional.empty(),
            "(no containerd found)",
            "not found",
            List.of("/run/k3s/containerd/containerd.sock: no such socket"));
    var c = decide(HARDWARE, true, CgroupLayout.V2, notRunning, allow);
    assertReason("no containerd serves CRI on this node", c);
    assertTrue(c.reason().contains("no such socket"), c.reason());
    assertReason(
        "cannot tell containerd's release",
        decide(HARDWARE, true, CgroupLayout.V2, containerd(null), allow));
    assertReason(
        "containerd 1.5.9 is older than 1.6",
        decide(HARDWARE, true, CgroupLayout.V2, containerd("1.5.9"), allow));
    assertReason("/dev/net/tun is missing", decide(HARDWARE, false, CgroupLayout.V2, OK, allow));
    assertReason("no cgroup file system", decide(HARDWARE, true, CgroupLayout.NONE, OK, allow));
  }

  static void assertReason(String prefix, HostCheck c) {
    assertEquals(Verdict.UNSUPPORTED, c.verdict());
    assertTrue(c.reason().startsWith(prefix), c.reason());
    assertFalse(c.reason().contains("\n"), "one line");
  }

  @Test
  void cgroupLayouts() {
    String hybrid =
        """
        tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
        cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
        cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
        cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
        """;
    assertEquals(CgroupLayout.HYBRID, CgroupLayout.of(hybrid.lines().toList()));
    assertEquals(
        CgroupLayout.V1,
        CgroupLayout.of(hybrid.lines().filter(l -> !l.startsWith("cgroup2")).toList()));
    assertEquals(
        CgroupLayout.V2,
        CgroupLayout.of(
            List.of("proc /proc proc rw 0 0", "cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0")));
    assertEquals(
        CgroupLayout.NONE, CgroupLayout.of(List.of("cgroup2 /mnt/elsewhere cgroup2 rw 0 0")));
  }

  @Test
  void jsonForTheNodeAnnotations() throws Exception {
    var mapper = new ObjectMapper();
    var json =
        decide(PVM, true, CgroupLayout.HYBRID, OK, VirtualizationPolicy.AllowSoftwareEmulation)
            .toJson(mapper);
    assertEquals("software-emulation", json.path("verdict").asText());
    assertEquals("AllowSoftwareEmulation", json.path("policy").asText());
    assertEquals("pvm", json.path("virtualization").path("kind").asText());
    assertEquals("hybrid", json.path("cgroups").asText());
    assertTrue(json.path("tun").asBoolean());
    assertEquals("containerd", json.path("containerd").path("flavor").asText());
    assertEquals("1.6.20", json.path("containerd").path("version").asText());
    assertEquals("/etc/containerd/config.toml", json.path("containerd").path("config").asText());
    assertEquals(402, json.path("containerd").path("pid").asInt());
    assertEquals(SOCKET.toString(), json.path("containerd").path("socket").asText());
  }

  /**
   * The CLI on this very machine: whatever it finds, it prints one JSON object and exits 0 or 3.
   */
  @Test
  void checkCommandOnThisHost() throws Exception {
    var out = new ByteArrayOutputStream();
    var err = new ByteArrayOutputStream();
    int rc =
        Main.run(
            List.of("check", "--policy", "AllowSoftwareEmulation"),
            Map.of(),
            new PrintStream(out),
            new PrintStream(err));
    var json = new ObjectMapper().readTree(out.toString());
    assertTrue(rc == Main.OK || rc == Main.UNSUPPORTED, err.toString());
    assertEquals(
        rc == Main.OK, !json.path("verdict").asText().equals("unsupported"), json.toString());
    assertEquals(
        HostVirtualization.probe().kind().label(),
        json.path("virtualization").path("kind").asText());
  }

  @Test
  void badUsage() {
    var err = new ByteArrayOutputStream();
    var ps = new PrintStream(err);
    assertEquals(Main.USAGE, Main.run(List.of("frobnicate"), Map.of(), System.out, ps));
    assertEquals(
        Main.USAGE, Main.run(List.of("check", "--policy", "Maybe"), Map.of(), System.out, ps));
    assertEquals(Main.USAGE, Main.run(List.of("check", "--nope", "x"), Map.of(), System.out, ps));
    assertEquals(Main.USAGE, Main.run(List.of("install", "extra"), Map.of(), System.out, ps));
    assertTrue(err.toString().contains("usage: runtime-node-installer"));
    // The node flow needs its node: a missing NODE_NAME is a usage error naming the variable.
    var err2 = new ByteArrayOutputStream();
    assertEquals(
        Main.USAGE, Main.run(List.of("install"), Map.of(), System.out, new PrintStream(err2)));
    assertTrue(err2.toString().contains("NODE_NAME"), err2.toString());
  }
}
