package dev.kataoperator.shim.network;

import java.util.List;
import java.util.Objects;

/**
 * One interface CNI configured in the pod's network namespace, as {@link PodNetwork#scan} found it.
 *
 * @param index the interface index inside the namespace
 * @param name the interface name ("eth0"); the guest NIC gets the same name
 * @param kind iproute2's link kind ("veth", "macvlan", "ipvlan")
 * @param macAddress lower-case "aa:bb:cc:dd:ee:ff"; the guest NIC gets this MAC, so the guest owns
 *     the pod's addresses on the wire
 * @param mtu the interface MTU; the tap and the guest NIC get the same
 * @param addresses the addresses the guest takes over (IPv6 link-local ones are left out: the guest
 *     derives its own from the same MAC)
 * @param routes routes leaving by this interface (kernel-made subnet routes are left out: the
 *     guest's kernel makes them when the addresses are added)
 */
public record PodInterface(
    int index,
    String name,
    String kind,
    String macAddress,
    int mtu,
    List<IpPrefix> addresses,
    List<PodRoute> routes) {
  public PodInterface {
    Objects.requireNonNull(name);
    Objects.requireNonNull(kind);
    Objects.requireNonNull(macAddress);
    addresses = List.copyOf(addresses);
    routes = List.copyOf(routes);
  }
}
