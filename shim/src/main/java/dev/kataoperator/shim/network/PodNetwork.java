package dev.kataoperator.shim.network;

import dev.kataoperator.agent.v1.IpAddress;
import dev.kataoperator.agent.v1.Route;
import dev.kataoperator.agent.v1.UpdateInterfaceRequest;
import dev.kataoperator.agent.v1.UpdateRoutesRequest;
import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.hypervisor.VmConfig;
import dev.kataoperator.shim.network.NetworkException.Reason;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A pod's network, connected to its VM the way Kata's "tcfilter" model does it.
 *
 * <p>CNI leaves a veth (usually {@code eth0}) with the pod's addresses, MAC and routes in the pod's
 * network namespace. For each such interface {@link #attach} creates a tap device in the same
 * namespace and joins the two with tc: an ingress qdisc on each and a match-all u32 filter whose
 * action is {@code mirred egress redirect} to the other. Every frame arriving on the veth leaves by
 * the tap into the VM, and every frame the VM sends leaves by the veth. The veth keeps its
 * addresses (as in Kata's tcfilter model; the namespace's own stack no longer receives anything on
 * it), and the VM's NIC gets the veth's MAC, so the guest answers for the pod's IP on the wire.
 *
 * <p>Order of use: {@link #scan} and {@link #attach} before the VM starts (QEMU opens the taps by
 * name, inside the namespace); {@link #nics()} into the VM config; {@link #configureGuest} once the
 * agent answers; {@link #detach()} after the VM is gone. {@link #detachAll} cleans a namespace
 * without this object (e.g. after a shim crash).
 */
public final class PodNetwork implements AutoCloseable {
  private static final System.Logger LOG = System.getLogger(PodNetwork.class.getName());

  /** Link kinds whose traffic a tc redirect can carry to a tap. */
  static final Set<String> SUPPORTED_KINDS = Set.of("veth", "macvlan", "ipvlan");

  /** Names of the taps this class creates: {@code tap<N>_kata}. */
  static final Pattern TAP_NAME = Pattern.compile("tap[0-9]+_kata");

  /** Linux interface names hold at most 15 bytes (IFNAMSIZ - 1). */
  static final int MAX_IFNAME = 15;

  private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");

  private final Path netns;
  private final NetnsRunner runner;
  private final List<Endpoint> endpoints;
  private boolean detached;

  private PodNetwork(Path netns, NetnsRunner runner, List<Endpoint> endpoints) {
    this.netns = netns;
    this.runner = runner;
    this.endpoints = List.copyOf(endpoints);
  }

  /**
   * One pod interface joined to one tap.
   *
   * @param iface the pod interface (veth) as scanned
   * @param tapName the tap device in the pod's namespace that QEMU opens
   * @param nicId the id of QEMU's netdev/device pair
   */
  public record Endpoint(PodInterface iface, String tapName, String nicId) {
    /** The VM NIC: on the tap, with the veth's MAC. */
    public VmConfig.Nic nic() {
      return new VmConfig.Nic(nicId, tapName, iface.macAddress());
    }

    /** Tells the agent to name the NIC with this MAC like the veth, set MTU and addresses. */
    public UpdateInterfaceRequest interfaceRequest() {
      var req =
          UpdateInterfaceRequest.newBuilder()
              .setMacAddress(iface.macAddress())
              .setName(iface.name())
              .setMtu(iface.mtu());
      for (IpPrefix a : iface.addresses()) {
        req.addAddresses(IpAddress.newBuilder().setCidr(a.cidr()));
      }
      return req.build();
    }
  }

  /** The tap for the interface at {@code position} (0, 1, ...) in scan order: tap0_kata, ... */
  public static String tapName(int position) {
    if (position < 0) {
      throw new IllegalArgumentException("negative position " + position);
    }
    String name = "tap" + position + "_kata";
    if (name.length() > MAX_IFNAME) {
      throw new NetworkException(
          Reason.UNSUPPORTED_INTERFACE,
          "too many pod interfaces: tap name " + name + " exceeds " + MAX_IFNAME + " characters");
    }
    return name;
  }

  /** QEMU's id for the NIC at {@code position}: net0, net1, ... */
  public static String nicId(int position) {
    return "net" + position;
  }

  // ---------------------------------------------------------------------------------- scanning

  /**
   * Reads the interfaces to connect from the pod's network namespace: every non-loopback veth,
   * macvlan or ipvlan that has an address other than an IPv6 link-local one, in interface-index
   * order, each with the routes (main table, IPv4 and IPv6) that leave by it.
   *
   * @throws NetworkException NETNS_UNAVAILABLE if {@code netns} is not a network namespace;
   *     UNSUPPORTED_INTERFACE if an addressed interface is of another kind or two share a MAC
   */
  public static List<PodInterface> scan(Path netns) {
    requireNetns(netns);
    return scan(new NsenterRunner(netns), netns);
  }

  static List<PodInterface> scan(NetnsRunner run, Path netns) {
    var links = IpJson.links(run.run(List.of("ip", "-j", "-d", "addr", "show")));
    var routes = new ArrayList<PodRoute>();
    routes.addAll(
        IpJson.routes(run.run(List.of("ip", "-j", "-4", "route", "show", "table", "main")), false));
    String v6;
    try {
      v6 = run.run(List.of("ip", "-j", "-6", "route", "show", "table", "main"));
    } catch (NetworkException e) {
      if (!e.getMessage().contains("not supported")) {
        throw e;
      }
      v6 = "[]"; // a kernel or namespace without IPv6
    }
    routes.addAll(IpJson.routes(v6, true));
    return select(links, routes, netns);
  }

  /** Picks the interfaces to connect and their routes; see {@link #scan(Path)}. */
  static List<PodInterface> select(List<IpJson.Link> links, List<PodRoute> routes, Path netns) {
    var chosen = new ArrayList<PodInterface>();
    var byMac = new HashMap<String, String>();
    for (IpJson.Link l :
        links.stream().sorted(Comparator.comparingInt(IpJson.Link::index)).toList()) {
      if (l.loopback() || TAP_NAME.matcher(l.name()).matches()) {
        continue;
      }
      List<IpPrefix> addrs =
          l.addresses().stream()
              .filter(a -> a.family().equals("inet") || a.family().equals("inet6"))
              .filter(a -> !a.ipv6LinkLocal())
              .map(a -> new IpPrefix(a.local(), a.prefixLength()))
              .toList();
      if (addrs.isEmpty()) {
        // Unconfigured: base tunnel devices (sit0, tunl0), or something not meant for the pod.
        LOG.log(
            Level.DEBUG, () -> "pod network " + netns + ": skipping " + l.name() + " (no address)");
        continue;
      }
      if (!SUPPORTED_KINDS.contains(l.kind())) {
        throw new NetworkException(
            Reason.UNSUPPORTED_INTERFACE,
            "interface "
                + l.name()
                + " in "
                + netns
                + " is "
                + (l.kind().isEmpty()
                    ? "a device without a link kind (physical?)"
                    : "a " + l.kind())
                + " with addresses "
                + addrs
                + "; only "
                + SUPPORTED_KINDS.stream().sorted().toList()
                + " interfaces can be connected to the VM");
      }
      if (!MAC.matcher(l.mac()).matches()) {
        throw new NetworkException(
            Reason.UNSUPPORTED_INTERFACE,
            "interface "
                + l.name()
                + " in "
                + netns
                + " has no Ethernet MAC (\""
                + l.mac()
                + "\")");
      }
      String clash = byMac.putIfAbsent(l.mac(), l.name());
      if (clash != null) {
        throw new NetworkException(
            Reason.UNSUPPORTED_INTERFACE,
            "interfaces "
                + clash
                + " and "
                + l.name()
                + " in "
                + netns
                + " share MAC "
                + l.mac()
                + "; the guest finds its NICs by MAC, so each needs its own");
      }
      if (l.mtu() < 68) {
        throw new NetworkException(
            Reason.BAD_OUTPUT,
            "interface " + l.name() + " in " + netns + " reports MTU " + l.mtu());
      }
      List<PodRoute> own = routes.stream().filter(r -> r.device().equals(l.name())).toList();
      chosen.add(new PodInterface(l.index(), l.name(), l.kind(), l.mac(), l.mtu(), addrs, own));
    }
    return chosen;
  }

  // ---------------------------------------------------------------------------------- attaching

  /** {@link #scan(Path)} then {@link #attach(Path, List)}. */
  public static PodNetwork attach(Path netns) {
    return attach(netns, scan(netns));
  }

  /**
   * Creates a tap per interface and the tc redirects between each pair. Either every endpoint is in
   * place when this returns, or it throws and has removed everything it created.
   *
   * @param interfaces as returned by {@link #scan}; the i-th gets tap {@code tapName(i)}
   * @throws NetworkException BUSY if a tap of that name exists already or an interface already has
   *     an ingress qdisc; COMMAND_FAILED if ip/tc fail
   */
  public static PodNetwork attach(Path netns, List<PodInterface> interfaces) {
    requireNetns(netns);
    return attach(new NsenterRunner(netns), netns, interfaces);
  }

  static PodNetwork attach(NetnsRunner run, Path netns, List<PodInterface> interfaces) {
    var endpoints = new ArrayList<Endpoint>();
    for (int i = 0; i < interfaces.size(); i++) {
      endpoints.add(new Endpoint(interfaces.get(i), tapName(i), nicId(i)));
    }
    if (endpoints.isEmpty()) {
      return new PodNetwork(netns, run, endpoints);
    }
    Set<String> existing = new HashSet<>();
    for (IpJson.Link l : IpJson.links(run.run(List.of("ip", "-j", "-d", "link", "show")))) {
      existing.add(l.name());
    }
    Set<String> filtered =
        new HashSet<>(
            IpJson.devicesWithIngressQdisc(run.run(List.of("tc", "-j", "qdisc", "show"))));
    for (Endpoint e : endpoints) {
      if (existing.contains(e.tapName())) {
        throw new NetworkException(
            Reason.BUSY,
            e.tapName()
                + " already exists in "
                + netns
                + ": the namespace is attached to a VM already, or an earlier sandbox was not"
                + " detached (PodNetwork.detachAll cleans it)");
      }
      if (filtered.contains(e.iface().name())) {
        throw new NetworkException(
            Reason.BUSY,
            e.iface().name()
                + " in "
                + netns
                + " already has an ingress qdisc; the tc-filter model needs the interface's"
                + " ingress for itself (PodNetwork.detachAll removes one left by an earlier"
                + " sandbox)");
      }
      if (!existing.contains(e.iface().name())) {
        throw new NetworkException(
            Reason.UNSUPPORTED_INTERFACE, e.iface().name() + " is no longer in " + netns);
      }
    }
    Deque<List<String>> undo = new ArrayDeque<>();
    try {
      for (Endpoint e : endpoints) {
        connect(run, e, undo);
      }
    } catch (RuntimeException failure) {
      while (!undo.isEmpty()) {
        List<String> cmd = undo.pop();
        try {
          run.run(cmd);
        } catch (RuntimeException undoFailure) {
          failure.addSuppressed(undoFailure);
        }
      }
      throw failure;
    }
    LOG.log(
        Level.INFO,
        () ->
            "pod network "
                + netns
                + ": "
                + endpoints.stream()
                    .map(e -> e.iface().name() + "<->" + e.tapName() + " " + e.iface().addresses())
                    .toList());
    return new PodNetwork(netns, run, endpoints);
  }

  private static void connect(NetnsRunner run, Endpoint e, Deque<List<String>> undo) {
    String veth = e.iface().name();
    String tap = e.tapName();
    // vnet_hdr as QEMU asks for it; a single queue, which every VMM can open by name.
    run.run(List.of("ip", "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr"));
    undo.push(List.of("ip", "link", "del", "dev", tap)); // takes the tap's qdisc and filter along
    run.run(
        List.of("ip", "link", "set", "dev", tap, "mtu", Integer.toString(e.iface().mtu()), "up"));
    run.run(List.of("tc", "qdisc", "add", "dev", tap, "handle", "ffff:", "ingress"));
    run.run(List.of("tc", "qdisc", "add", "dev", veth, "handle", "ffff:", "ingress"));
    undo.push(List.of("tc", "qdisc", "del", "dev", veth, "handle", "ffff:", "ingress"));
    run.run(redirect(veth, tap));
    run.run(redirect(tap, veth));
  }

  /** Everything that arrives on {@code from} leaves by {@code to}. */
  static List<String> redirect(String from, String to) {
    return List.of(
        "tc",
        "filter",
        "add",
        "dev",
        from,
        "parent",
        "ffff:",
        "protocol",
        "all",
        "u32",
        "match",
        "u8",
        "0",
        "0",
        "action",
        "mirred",
        "egress",
        "redirect",
        "dev",
        to);
  }

  // -------------------------------------------------------------------------------- the guest side

  public Path netns() {
    return netns;
  }

  public List<Endpoint> endpoints() {
    return endpoints;
  }

  /** The VM's NICs, for {@code Sandbox.Spec.nics} / {@link VmConfig#nics()}. */
  public List<VmConfig.Nic> nics() {
    return endpoints.stream().map(Endpoint::nic).toList();
  }

  /** One request per NIC, for {@link AgentClient#updateInterface}. */
  public List<UpdateInterfaceRequest> interfaceRequests() {
    return endpoints.stream().map(Endpoint::interfaceRequest).toList();
  }

  /** Every endpoint's routes in one request, for {@link AgentClient#updateRoutes}. */
  public UpdateRoutesRequest routesRequest() {
    return routesRequest(endpoints.stream().map(Endpoint::iface).toList());
  }

  static UpdateRoutesRequest routesRequest(List<PodInterface> interfaces) {
    var req = UpdateRoutesRequest.newBuilder();
    for (PodInterface i : interfaces) {
      for (PodRoute r : i.routes()) {
        req.addRoutes(
            Route.newBuilder()
                .setDestination(r.destination())
                .setGateway(r.gateway())
                .setDevice(r.device()));
      }
    }
    return req.build();
  }

  /**
   * Configures the guest once its agent answers: each NIC (found by MAC, renamed, MTU, addresses,
   * up), then the routes (link-scoped before gateway routes; the agent orders them).
   *
   * @throws NetworkException GUEST_REJECTED naming the interface or routes the agent refused
   */
  public void configureGuest(AgentClient agent) {
    for (Endpoint e : endpoints) {
      try {
        agent.updateInterface(e.interfaceRequest());
      } catch (AgentException ex) {
        throw new NetworkException(
            Reason.GUEST_REJECTED,
            "the guest could not configure "
                + e.iface().name()
                + " ("
                + e.iface().macAddress()
                + ", "
                + e.iface().addresses()
                + "): "
                + ex.getMessage(),
            ex);
      }
    }
    UpdateRoutesRequest routes = routesRequest();
    if (routes.getRoutesCount() == 0) {
      return;
    }
    try {
      agent.updateRoutes(routes);
    } catch (AgentException ex) {
      throw new NetworkException(
          Reason.GUEST_REJECTED,
          "the guest could not add the pod's routes "
              + endpoints.stream().flatMap(e -> e.iface().routes().stream()).toList()
              + ": "
              + ex.getMessage(),
          ex);
    }
  }

  // ---------------------------------------------------------------------------------- detaching

  /**
   * Removes the taps and the veths' ingress qdiscs (with their filters) that {@link #attach}
   * created. Idempotent: what is already gone is skipped, and a namespace that no longer exists
   * means there is nothing left. Call it after the VM has stopped. If a removal fails the others
   * are still tried, the first failure is thrown, and calling again retries.
   */
  public synchronized void detach() {
    if (detached) {
      return;
    }
    detach(runner, netns, endpoints);
    detached = true;
  }

  static void detach(NetnsRunner run, Path netns, List<Endpoint> endpoints) {
    if (endpoints.isEmpty() || !Files.exists(netns)) {
      return; // a namespace that is gone took its devices along
    }
    Set<String> links = new HashSet<>();
    String linkJson = listLinksUnlessGone(run, netns);
    if (linkJson == null) {
      return;
    }
    for (IpJson.Link l : IpJson.links(linkJson)) {
      links.add(l.name());
    }
    Set<String> filtered =
        new HashSet<>(
            IpJson.devicesWithIngressQdisc(run.run(List.of("tc", "-j", "qdisc", "show"))));
    var cmds = new ArrayList<List<String>>();
    for (Endpoint e : endpoints.reversed()) {
      // attach refused interfaces that had an ingress qdisc, so the one there now is ours.
      if (filtered.contains(e.iface().name()) && links.contains(e.iface().name())) {
        cmds.add(List.of("tc", "qdisc", "del", "dev", e.iface().name(), "ingress"));
      }
      if (links.contains(e.tapName())) {
        cmds.add(List.of("ip", "link", "del", "dev", e.tapName()));
      }
    }
    runAll(run, cmds);
  }

  /** Same as {@link #detach()}. */
  @Override
  public void close() {
    detach();
  }

  /**
   * Removes, without the {@link PodNetwork} that made them, every tap named like ours and every
   * ingress qdisc whose filters only redirect to such taps (or to devices already gone), e.g. after
   * a shim crash. A missing namespace is not an error.
   */
  public static void detachAll(Path netns) {
    if (!Files.exists(netns)) {
      return;
    }
    detachAll(new NsenterRunner(netns), netns);
  }

  static void detachAll(NetnsRunner run, Path netns) {
    String linkJson = listLinksUnlessGone(run, netns);
    if (linkJson == null) {
      return;
    }
    Map<String, IpJson.Link> links = new HashMap<>();
    for (IpJson.Link l : IpJson.links(linkJson)) {
      links.put(l.name(), l);
    }
    List<String> taps =
        links.values().stream()
            .filter(l -> TAP_NAME.matcher(l.name()).matches() && l.kind().equals("tun"))
            .map(IpJson.Link::name)
            .sorted()
            .toList();
    var cmds = new ArrayList<List<String>>();
    for (String dev :
        IpJson.devicesWithIngressQdisc(run.run(List.of("tc", "-j", "qdisc", "show")))) {
      if (taps.contains(dev)) {
        continue; // goes with the tap
      }
      var actions =
          IpJson.ingressActions(
              run.run(List.of("tc", "-j", "filter", "show", "dev", dev, "ingress")));
      boolean ours =
          !actions.isEmpty()
              && actions.stream()
                  .allMatch(
                      a ->
                          a.action().equals("redirect")
                              && (a.toDev().equals("*") || TAP_NAME.matcher(a.toDev()).matches()));
      if (ours) {
        cmds.add(List.of("tc", "qdisc", "del", "dev", dev, "ingress"));
      }
    }
    for (String tap : taps) {
      cmds.add(List.of("ip", "link", "del", "dev", tap));
    }
    runAll(run, cmds);
  }

  /** {@code ip -j -d link show}, or null when the namespace can no longer be entered. */
  private static String listLinksUnlessGone(NetnsRunner run, Path netns) {
    try {
      return run.run(List.of("ip", "-j", "-d", "link", "show"));
    } catch (NetworkException e) {
      if (e.reason() != Reason.NETNS_UNAVAILABLE) {
        throw e;
      }
      // Its path outlived the namespace (unmounted); the devices went with the namespace.
      LOG.log(
          Level.DEBUG,
          () -> "pod network " + netns + ": nothing to detach (" + e.getMessage() + ")");
      return null;
    }
  }

  private static void runAll(NetnsRunner run, List<List<String>> cmds) {
    NetworkException first = null;
    for (List<String> cmd : cmds) {
      try {
        run.run(cmd);
      } catch (NetworkException e) {
        if (first == null) {
          first = e;
        } else {
          first.addSuppressed(e);
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  private static void requireNetns(Path netns) {
    if (!Files.exists(netns)) {
      throw new NetworkException(
          Reason.NETNS_UNAVAILABLE, "network namespace " + netns + " does not exist");
    }
  }

  @Override
  public String toString() {
    return "PodNetwork[" + netns + ", " + endpoints + "]";
  }
}
