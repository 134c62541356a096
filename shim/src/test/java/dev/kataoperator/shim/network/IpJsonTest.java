package dev.kataoperator.shim.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Parsing of iproute2 JSON, with output captured from iproute2 6.1 on Debian 12. */
@Tag("unit")
class IpJsonTest {
  /** `ip -j -d addr show` in a pod netns: lo and a CNI veth with IPv4, IPv6 and link-local. */
  static final String ADDRS =
      """
      [{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","promiscuity":0,"allmulti":0,"min_mtu":0,"max_mtu":0,"num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,"tso_max_size":524280,"tso_max_segs":65535,"gro_max_size":65536,"addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]},{"ifindex":2,"link_index":5,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether","address":"26:EC:93:07:8d:da","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65535,"linkinfo":{"info_kind":"veth"},"num_tx_queues":2,"num_rx_queues":2,"gso_max_size":65536,"gso_max_segs":65535,"tso_max_size":524280,"tso_max_segs":65535,"gro_max_size":65536,"addr_info":[{"family":"inet","local":"10.99.0.2","prefixlen":24,"scope":"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fd00:99::2","prefixlen":64,"scope":"global","valid_life_time":4294967295,"preferred_life_time":4294967295},{"family":"inet6","local":"fe80::24ec:93ff:fe07:8dda","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]
      """;

  /**
   * `ip -j -4 route show table main`: default, kernel subnet, static, blackhole, multipath, /32.
   */
  static final String ROUTES4 =
      """
      [{"dst":"default","gateway":"10.99.0.1","dev":"eth0","flags":[]},{"dst":"10.99.0.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.99.0.2","flags":[]},{"dst":"10.100.0.0/16","gateway":"10.99.0.1","dev":"eth0","flags":[]},{"type":"blackhole","dst":"10.200.0.0/16","flags":[]},{"dst":"10.201.0.0/16","flags":[],"nexthops":[{"gateway":"10.99.0.1","dev":"eth0","weight":1,"flags":[]},{"gateway":"10.99.0.3","dev":"eth0","weight":1,"flags":[]}]},{"dst":"169.254.1.1","dev":"eth0","scope":"link","flags":[]}]
      """;

  /** `ip -j -6 route show table main`: kernel routes, a host route, a link-local default. */
  static final String ROUTES6 =
      """
      [{"dst":"fd00:99::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"fd00:aa::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"},{"dst":"fe80::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},{"dst":"default","gateway":"fe80::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"}]
      """;

  /** `ip -j -d link show dev tap0_kata` for a tap made by attach. */
  static final String TAP_LINK =
      """
      [{"ifindex":3,"ifname":"tap0_kata","flags":["NO-CARRIER","BROADCAST","MULTICAST","UP"],"mtu":1500,"qdisc":"pfifo_fast","operstate":"DOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"72:4f:60:95:22:63","broadcast":"ff:ff:ff:ff:ff:ff","promiscuity":0,"allmulti":0,"min_mtu":68,"max_mtu":65521,"linkinfo":{"info_kind":"tun","info_data":{"type":"tap","pi":false,"vnet_hdr":true,"multi_queue":false,"persist":true}},"inet6_addr_gen_mode":"eui64","num_tx_queues":1,"num_rx_queues":1,"gso_max_size":65536,"gso_max_segs":65535,"tso_max_size":65536,"tso_max_segs":65535,"gro_max_size":65536}]
      """;

  /** `tc -j qdisc show` after attach. */
  static final String QDISCS =
      """
      [{"kind":"noqueue","handle":"0:","dev":"lo","root":true,"refcnt":2,"options":{}},{"kind":"noqueue","handle":"0:","dev":"eth0","root":true,"refcnt":2,"options":{}},{"kind":"ingress","handle":"ffff:","dev":"eth0","parent":"ffff:fff1","options":{}},{"kind":"pfifo_fast","handle":"0:","dev":"tap0_kata","root":true,"refcnt":2,"options":{"bands":3,"priomap":[1,2,2,2,1,2,0,0,1,1,1,1,1,1,1,1],"multiqueue":false}},{"kind":"ingress","handle":"ffff:","dev":"tap0_kata","parent":"ffff:fff1","options":{}}]
      """;

  /** `tc -j filter show dev eth0 ingress` after attach. */
  static final String FILTERS =
      """
      [{"parent":"ffff:","protocol":"all","pref":49152,"kind":"u32","chain":0},{"parent":"ffff:","protocol":"all","pref":49152,"kind":"u32","chain":0,"options":{"fh":"800:","ht_divisor":1}},{"parent":"ffff:","protocol":"all","pref":49152,"kind":"u32","chain":0,"options":{"fh":"800::800","order":2048,"key_ht":"800","bkt":"0","not_in_hw":true,"match":{"value":"0","mask":"0","offmask":"","off":0},"actions":[{"order":1,"kind":"mirred","mirred_action":"redirect","direction":"egress","to_dev":"tap0_kata","control_action":{"type":"stolen"},"index":1,"ref":1,"bind":1}]}}]
      """;

  @Test
  void linksWithAddresses() {
    var links = IpJson.links(ADDRS);
    assertEquals(2, links.size());
    var lo = links.get(0);
    assertTrue(lo.loopback());
    assertEquals("", lo.kind());
    var eth0 = links.get(1);
    assertEquals(2, eth0.index());
    assertEquals("eth0", eth0.name());
    assertEquals("veth", eth0.kind());
    assertEquals("26:ec:93:07:8d:da", eth0.mac(), "MAC lower-cased");
    assertEquals(1500, eth0.mtu());
    assertFalse(eth0.loopback());
    assertEquals(
        List.of(
            new IpJson.Address("inet", "10.99.0.2", 24, "global"),
            new IpJson.Address("inet6", "fd00:99::2", 64, "global"),
            new IpJson.Address("inet6", "fe80::24ec:93ff:fe07:8dda", 64, "link")),
        eth0.addresses());
    assertTrue(eth0.addresses().get(2).ipv6LinkLocal());
  }

  @Test
  void tapLinkHasKindTunAndNoAddresses() {
    var tap = IpJson.links(TAP_LINK).getFirst();
    assertEquals("tun", tap.kind());
    assertEquals(List.of(), tap.addresses());
  }

  @Test
  void ipv4RoutesKeepOnlyWhatTheGuestMustBeTold() {
    assertEquals(
        List.of(
            new PodRoute("default", "10.99.0.1", "eth0", false),
            new PodRoute("10.100.0.0/16", "10.99.0.1", "eth0", false),
            new PodRoute("169.254.1.1/32", "", "eth0", false)),
        IpJson.routes(ROUTES4, false),
        "kernel subnet route, blackhole and multipath left out; host route gets /32");
  }

  @Test
  void ipv6Routes() {
    assertEquals(
        List.of(
            new PodRoute("fd00:aa::1/128", "", "eth0", true),
            new PodRoute("default", "fe80::1", "eth0", true)),
        IpJson.routes(ROUTES6, true));
  }

  @Test
  void qdiscsAndFilters() {
    assertEquals(List.of("eth0", "tap0_kata"), IpJson.devicesWithIngressQdisc(QDISCS));
    assertTrue(IpJson.hasIngressQdisc("[{\"kind\":\"ingress\",\"handle\":\"ffff:\"}]"));
    assertFalse(IpJson.hasIngressQdisc("[{\"kind\":\"noqueue\",\"handle\":\"0:\"}]"));
    assertEquals(
        List.of(new IpJson.Mirred("redirect", "tap0_kata")), IpJson.ingressActions(FILTERS));
    assertEquals(
        List.of(new IpJson.Mirred("redirect", "*")),
        IpJson.ingressActions(FILTERS.replace("\"tap0_kata\"", "\"*\"")),
        "the redirect target shows as * once the tap is deleted");
    assertEquals(
        List.of(new IpJson.Mirred("gact", "")),
        IpJson.ingressActions(
            "[{\"kind\":\"u32\",\"options\":{\"actions\":[{\"kind\":\"gact\",\"control_action\":{\"type\":\"drop\"}}]}}]"));
  }

  @Test
  void emptyOutputIsAnEmptyList() {
    assertEquals(List.of(), IpJson.links("[]\n"));
    assertEquals(List.of(), IpJson.routes("", false));
  }

  @Test
  void malformedOutputIsBadOutput() {
    var e = assertThrows(NetworkException.class, () -> IpJson.links("[{\"ifname\":"));
    assertEquals(NetworkException.Reason.BAD_OUTPUT, e.reason());
    assertTrue(
        e.getMessage().startsWith("cannot parse the output of `ip -j addr`"), e.getMessage());
    e = assertThrows(NetworkException.class, () -> IpJson.links("{\"ifname\":\"eth0\"}"));
    assertEquals(NetworkException.Reason.BAD_OUTPUT, e.reason());
    e = assertThrows(NetworkException.class, () -> IpJson.links("[{\"ifname\":\"eth0\"}]"));
    assertTrue(e.getMessage().contains("without \"ifindex\""), e.getMessage());
  }
}
