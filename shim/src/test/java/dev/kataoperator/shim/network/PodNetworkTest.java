package dev.kataoperator.shim.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.agent.v1.IpAddress;
import dev.kataoperator.agent.v1.Route;
import dev.kataoperator.agent.v1.UpdateInterfaceRequest;
import dev.kataoperator.shim.hypervisor.VmConfig;
import dev.kataoperator.shim.network.NetworkException.Reason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Interface selection, naming, guest requests, and attach/detach command sequences (no root). */
@Tag("unit")
class PodNetworkTest {
  private static final Path NETNS = Path.of("/var/run/netns/cni-test");

  /** Answers queries from canned JSON, records commands, fails the ones it is told to. */
  static final class FakeRunner implements NetnsRunner {
    final Map<String, String> answers = new LinkedHashMap<>();
    final List<String> commands = new ArrayList<>();
    Predicate<String> fails = c -> false;

    FakeRunner answer(String cmdPrefix, String json) {
      answers.put(cmdPrefix, json);
      return this;
    }

    @Override
    public String run(List<String> argv) {
      String cmd = String.join(" ", argv);
      commands.add(cmd);
      if (fails.test(cmd)) {
        throw new NetworkException(Reason.COMMAND_FAILED, "`" + cmd + "` failed: injected");
      }
      for (var a : answers.entrySet()) {
        if (cmd.startsWith(a.getKey())) {
          return a.getValue();
        }
      }
      return "";
    }

    List<String> changes() {
      return commands.stream().filter(c -> !c.contains(" -j ")).toList();
    }
  }

  private static FakeRunner podNetns() {
    return new FakeRunner()
        .answer("ip -j -d addr show", IpJsonTest.ADDRS)
        .answer("ip -j -4 route", IpJsonTest.ROUTES4)
        .answer("ip -j -6 route", IpJsonTest.ROUTES6)
        .answer("ip -j -d link show", IpJsonTest.ADDRS)
        .answer("tc -j qdisc show", "[]");
  }

  @Test
  void scanFindsTheVethWithItsAddressesAndRoutes() {
    var found = PodNetwork.scan(podNetns(), NETNS);
    assertEquals(
        List.of(
            new PodInterface(
                2,
                "eth0",
                "veth",
                "26:ec:93:07:8d:da",
                1500,
                List.of(new IpPrefix("10.99.0.2", 24), new IpPrefix("fd00:99::2", 64)),
                List.of(
                    new PodRoute("default", "10.99.0.1", "eth0", false),
                    new PodRoute("10.100.0.0/16", "10.99.0.1", "eth0", false),
                    new PodRoute("169.254.1.1/32", "", "eth0", false),
                    new PodRoute("fd00:aa::1/128", "", "eth0", true),
                    new PodRoute("default", "fe80::1", "eth0", true)))),
        found);
  }

  private static IpJson.Link link(
      int index, String name, String kind, String mac, String... cidrs) {
    var addrs = new ArrayList<IpJson.Address>();
    for (String c : cidrs) {
      String[] p = c.split("/");
      boolean v6 = p[0].contains(":");
      addrs.add(
          new IpJson.Address(
              v6 ? "inet6" : "inet",
              p[0],
              Integer.parseInt(p[1]),
              p[0].startsWith("fe80") ? "link" : "global"));
    }
    return new IpJson.Link(index, name, kind, mac, 1500, false, addrs);
  }

  @Test
  void selectionSkipsUnaddressedAndOwnTapsAndOrdersByIndex() {
    var links =
        List.of(
            link(7, "net1", "macvlan", "02:00:00:00:00:07", "192.168.5.2/24"),
            link(3, "eth0", "veth", "02:00:00:00:00:03", "10.1.0.2/16"),
            link(4, "sit0", "sit", "", new String[0]),
            link(5, "tap0_kata", "tun", "02:00:00:00:00:05", "fe80::1/64"),
            link(6, "spare", "veth", "02:00:00:00:00:06", "fe80::2/64"));
    var routes =
        List.of(
            new PodRoute("default", "10.1.0.1", "eth0", false),
            new PodRoute("192.168.0.0/16", "192.168.5.1", "net1", false));
    var chosen = PodNetwork.select(links, routes, NETNS);
    assertEquals(List.of("eth0", "net1"), chosen.stream().map(PodInterface::name).toList());
    assertEquals(List.of(routes.get(0)), chosen.get(0).routes());
    assertEquals(List.of(routes.get(1)), chosen.get(1).routes());
  }

  @Test
  void addressedInterfaceOfAnotherKindIsRefused() {
    var e =
        assertThrows(
            NetworkException.class,
            () ->
                PodNetwork.select(
                    List.of(link(2, "gre1", "gre", "", "10.9.0.1/30")), List.of(), NETNS));
    assertEquals(Reason.UNSUPPORTED_INTERFACE, e.reason());
    assertEquals(
        "interface gre1 in /var/run/netns/cni-test is a gre with addresses [10.9.0.1/30]; only"
            + " [ipvlan, macvlan, veth] interfaces can be connected to the VM",
        e.getMessage());
  }

  @Test
  void sharedMacIsRefused() {
    var e =
        assertThrows(
            NetworkException.class,
            () ->
                PodNetwork.select(
                    List.of(
                        link(2, "eth0", "ipvlan", "02:00:00:00:00:01", "10.0.0.2/24"),
                        link(3, "eth1", "ipvlan", "02:00:00:00:00:01", "10.0.1.2/24")),
                    List.of(),
                    NETNS));
    assertEquals(Reason.UNSUPPORTED_INTERFACE, e.reason());
    assertTrue(e.getMessage().contains("share MAC 02:00:00:00:00:01"), e.getMessage());
  }

  @Test
  void namesAreDeterministicAndFitIfnamsiz() {
    assertEquals("tap0_kata", PodNetwork.tapName(0));
    assertEquals("tap12_kata", PodNetwork.tapName(12));
    assertEquals("net1", PodNetwork.nicId(1));
    assertEquals(15, PodNetwork.tapName(9_999_999).length());
    assertTrue(PodNetwork.TAP_NAME.matcher(PodNetwork.tapName(42)).matches());
    var e = assertThrows(NetworkException.class, () -> PodNetwork.tapName(10_000_000));
    assertEquals(Reason.UNSUPPORTED_INTERFACE, e.reason());
  }

  @Test
  void attachCreatesTapQdiscsAndRedirectsBothWays() {
    var run = podNetns();
    var net = PodNetwork.attach(run, NETNS, PodNetwork.scan(run, NETNS));
    assertEquals(
        List.of(
            "ip tuntap add dev tap0_kata mode tap vnet_hdr",
            "ip link set dev tap0_kata mtu 1500 up",
            "tc qdisc add dev tap0_kata handle ffff: ingress",
            "tc qdisc add dev eth0 handle ffff: ingress",
            "tc filter add dev eth0 parent ffff: protocol all u32 match u8 0 0 action mirred egress"
                + " redirect dev tap0_kata",
            "tc filter add dev tap0_kata parent ffff: protocol all u32 match u8 0 0 action mirred"
                + " egress redirect dev eth0"),
        run.changes());
    assertTrue(
        run.commands.stream().noneMatch(c -> c.contains("addr del") || c.contains("addr flush")),
        "the veth keeps its addresses");
    assertEquals(List.of(new VmConfig.Nic("net0", "tap0_kata", "26:ec:93:07:8d:da")), net.nics());
    assertEquals(
        List.of(
            UpdateInterfaceRequest.newBuilder()
                .setMacAddress("26:ec:93:07:8d:da")
                .setName("eth0")
                .setMtu(1500)
                .addAddresses(IpAddress.newBuilder().setCidr("10.99.0.2/24"))
                .addAddresses(IpAddress.newBuilder().setCidr("fd00:99::2/64"))
                .build()),
        net.interfaceRequests());
    assertEquals(
        List.of(
            route("default", "10.99.0.1"),
            route("10.100.0.0/16", "10.99.0.1"),
            route("169.254.1.1/32", ""),
            route("fd00:aa::1/128", ""),
            route("default", "fe80::1")),
        net.routesRequest().getRoutesList());
  }

  private static Route route(String dst, String gw) {
    return Route.newBuilder().setDestination(dst).setGateway(gw).setDevice("eth0").build();
  }

  @Test
  void failedAttachRemovesWhatItCreated() {
    var run = podNetns();
    var ifaces = PodNetwork.scan(run, NETNS);
    run.fails = c -> c.startsWith("tc filter add dev tap0_kata");
    var e = assertThrows(NetworkException.class, () -> PodNetwork.attach(run, NETNS, ifaces));
    assertEquals(Reason.COMMAND_FAILED, e.reason());
    var changes = run.changes();
    assertEquals(
        List.of("tc qdisc del dev eth0 handle ffff: ingress", "ip link del dev tap0_kata"),
        changes.subList(changes.size() - 2, changes.size()),
        "undone newest first");
  }

  @Test
  void failureCreatingTheTapUndoesNothingElse() {
    var run = podNetns();
    var ifaces = PodNetwork.scan(run, NETNS);
    run.fails = c -> c.startsWith("ip tuntap add");
    assertThrows(NetworkException.class, () -> PodNetwork.attach(run, NETNS, ifaces));
    assertEquals(List.of("ip tuntap add dev tap0_kata mode tap vnet_hdr"), run.changes());
  }

  @Test
  void existingTapOrIngressQdiscIsBusy() {
    var run = podNetns();
    var ifaces = PodNetwork.scan(run, NETNS);
    run.answer("ip -j -d link show", IpJsonTest.TAP_LINK.replace("tap0_kata", "eth0"))
        .answer("tc -j qdisc show", IpJsonTest.QDISCS);
    var e = assertThrows(NetworkException.class, () -> PodNetwork.attach(run, NETNS, ifaces));
    assertEquals(Reason.BUSY, e.reason());
    assertTrue(e.getMessage().startsWith("eth0 in " + NETNS + " already has an ingress qdisc"));
    assertEquals(List.of(), run.changes(), "nothing touched");
  }

  @Test
  void detachAllRemovesOnlyOurRedirectsAndTaps() {
    String links =
        "["
            + "{\"ifindex\":2,\"ifname\":\"eth0\",\"linkinfo\":{\"info_kind\":\"veth\"}},"
            + "{\"ifindex\":3,\"ifname\":\"eth1\",\"linkinfo\":{\"info_kind\":\"veth\"}},"
            + "{\"ifindex\":4,\"ifname\":\"tap0_kata\",\"linkinfo\":{\"info_kind\":\"tun\"}},"
            + "{\"ifindex\":5,\"ifname\":\"tap9_kata\",\"linkinfo\":{\"info_kind\":\"veth\"}}"
            + "]";
    String qdiscs =
        "[{\"kind\":\"ingress\",\"dev\":\"eth0\"},{\"kind\":\"ingress\",\"dev\":\"eth1\"},"
            + "{\"kind\":\"ingress\",\"dev\":\"tap0_kata\"}]";
    var run =
        new FakeRunner()
            .answer("ip -j -d link show", links)
            .answer("tc -j qdisc show", qdiscs)
            .answer("tc -j filter show dev eth0 ingress", IpJsonTest.FILTERS)
            .answer(
                "tc -j filter show dev eth1 ingress",
                IpJsonTest.FILTERS.replace("tap0_kata", "ifb0"));
    PodNetwork.detachAll(run, NETNS);
    assertEquals(
        List.of("tc qdisc del dev eth0 ingress", "ip link del dev tap0_kata"),
        run.changes(),
        "eth1 redirects elsewhere; tap9_kata is not a tap");
  }

  @Test
  void detachRemovesWhatIsThereOnceAndToleratesWhatIsGone() throws Exception {
    Path netns = Files.createTempFile("netns", ""); // detach looks inside only if the path exists
    try {
      var run = podNetns();
      var net = PodNetwork.attach(run, netns, PodNetwork.scan(run, netns));
      run.commands.clear();
      run.answer(
              "ip -j -d link show",
              "[{\"ifindex\":2,\"ifname\":\"eth0\"},{\"ifindex\":3,\"ifname\":\"tap0_kata\"}]")
          .answer("tc -j qdisc show", IpJsonTest.QDISCS);
      net.detach();
      assertEquals(
          List.of("tc qdisc del dev eth0 ingress", "ip link del dev tap0_kata"), run.changes());
      run.commands.clear();
      net.close();
      assertEquals(List.of(), run.commands, "a second detach does nothing");

      // A fresh handle on a namespace where the tap is already gone removes only the qdisc.
      var again =
          PodNetwork.attach(
              podNetns(), netns, net.endpoints().stream().map(PodNetwork.Endpoint::iface).toList());
      var run2 =
          new FakeRunner()
              .answer("ip -j -d link show", "[{\"ifindex\":2,\"ifname\":\"eth0\"}]")
              .answer("tc -j qdisc show", "[{\"kind\":\"ingress\",\"dev\":\"eth0\"}]");
      PodNetwork.detach(run2, netns, again.endpoints());
      assertEquals(List.of("tc qdisc del dev eth0 ingress"), run2.changes());
    } finally {
      Files.delete(netns);
    }
  }

  @Test
  void detachOfAVanishedNamespaceIsANoOp() {
    var run = podNetns();
    var net = PodNetwork.attach(run, NETNS, PodNetwork.scan(run, NETNS));
    run.commands.clear();
    net.detach(); // NETNS does not exist on this machine
    assertEquals(List.of(), run.commands);
  }

  @Test
  void detachOfANamespaceThatCannotBeEnteredAnyMoreIsANoOp() throws Exception {
    Path netns = Files.createTempFile("netns", "");
    try {
      var run = podNetns();
      var net = PodNetwork.attach(run, netns, PodNetwork.scan(run, netns));
      run.fails = c -> true;
      NetnsRunner gone =
          argv -> {
            throw new NetworkException(Reason.NETNS_UNAVAILABLE, "cannot enter network namespace");
          };
      PodNetwork.detach(gone, netns, net.endpoints());
      PodNetwork.detachAll(gone, netns);
    } finally {
      Files.delete(netns);
    }
  }
}
