package dev.kataoperator.shim.network;

import java.util.Objects;

/**
 * An interface address with its prefix length, as iproute2 prints it.
 *
 * @param address the address in iproute2's canonical text form ("10.88.0.5", "fd00::5")
 * @param prefixLength 0-32 for IPv4, 0-128 for IPv6
 */
public record IpPrefix(String address, int prefixLength) {
  public IpPrefix {
    Objects.requireNonNull(address);
    int max = address.contains(":") ? 128 : 32;
    if (prefixLength < 0 || prefixLength > max) {
      throw new IllegalArgumentException(
          "prefix length " + prefixLength + " out of range for " + address);
    }
  }

  public boolean isIpv6() {
    return address.contains(":");
  }

  /** "10.88.0.5/16". */
  public String cidr() {
    return address + "/" + prefixLength;
  }

  @Override
  public String toString() {
    return cidr();
  }
}
