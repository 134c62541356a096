package dev.kataoperator.shim.network;

import java.util.Objects;

/**
 * A route of the pod's namespace that the guest must have too.
 *
 * @param destination "default" or a CIDR ("10.96.0.0/12", "fd00::1/128"); host routes get /32 or
 *     /128 spelled out
 * @param gateway the next hop, empty for a link-scoped (directly connected) route
 * @param device the interface the route leaves by; the guest NIC carries the same name
 * @param ipv6 the route's address family
 */
public record PodRoute(String destination, String gateway, String device, boolean ipv6) {
  public PodRoute {
    Objects.requireNonNull(destination);
    Objects.requireNonNull(gateway);
    Objects.requireNonNull(device);
  }

  @Override
  public String toString() {
    return destination + (gateway.isEmpty() ? "" : " via " + gateway) + " dev " + device;
  }
}
