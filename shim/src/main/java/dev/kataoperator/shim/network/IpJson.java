package dev.kataoperator.shim.network;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Parses the JSON that iproute2 ({@code ip -j}, {@code tc -j}) prints. Unknown fields are ignored;
 * a missing required field or malformed JSON is a {@link NetworkException.Reason#BAD_OUTPUT}.
 */
final class IpJson {
  private static final ObjectMapper JSON = new ObjectMapper();

  private IpJson() {}

  /**
   * One link from {@code ip -j -d addr show} (or {@code ip -j -d link show}, then without
   * addresses).
   *
   * @param kind linkinfo.info_kind, or "" for a device without one (a physical NIC)
   * @param addresses every address, including link-local ones
   */
  record Link(
      int index,
      String name,
      String kind,
      String mac,
      int mtu,
      boolean loopback,
      List<Address> addresses) {}

  /** An address from addr_info: family "inet"/"inet6", scope "global"/"link"/"host"/... */
  record Address(String family, String local, int prefixLength, String scope) {
    boolean ipv6LinkLocal() {
      return family.equals("inet6") && scope.equals("link");
    }
  }

  /** A redirect/mirror action found on a device's ingress filters. */
  record Mirred(String action, String toDev) {}

  static List<Link> links(String json) {
    var links = new ArrayList<Link>();
    for (JsonNode n : array(json, "ip -j addr")) {
      String name = required(n, "ifname", "ip -j addr").asText();
      var addrs = new ArrayList<Address>();
      for (JsonNode a : n.path("addr_info")) {
        if (!a.has("family") || !a.has("local")) {
          continue; // e.g. an entry carrying only lifetimes
        }
        addrs.add(
            new Address(
                a.get("family").asText(),
                a.get("local").asText(),
                a.path("prefixlen").asInt(a.get("family").asText().equals("inet6") ? 128 : 32),
                a.path("scope").asText("global")));
      }
      boolean loopback = n.path("link_type").asText().equals("loopback");
      for (JsonNode f : n.path("flags")) {
        loopback |= f.asText().equals("LOOPBACK");
      }
      links.add(
          new Link(
              required(n, "ifindex", "ip -j addr").asInt(),
              name,
              n.path("linkinfo").path("info_kind").asText(""),
              n.path("address").asText("").toLowerCase(Locale.ROOT),
              n.path("mtu").asInt(0),
              loopback,
              List.copyOf(addrs)));
    }
    return links;
  }

  /**
   * Routes from {@code ip -j route show} / {@code ip -j -6 route show} that a guest can take over:
   * unicast, with an output device, not made by the kernel for an address, no multipath and no
   * cross-family "via".
   */
  static List<PodRoute> routes(String json, boolean ipv6) {
    var routes = new ArrayList<PodRoute>();
    for (JsonNode r : array(json, "ip -j route")) {
      if (!r.path("type").asText("unicast").equals("unicast")
          || r.path("protocol").asText("").equals("kernel")
          || !r.hasNonNull("dev")
          || r.has("nexthops")
          || r.has("via")) {
        continue;
      }
      String dst = required(r, "dst", "ip -j route").asText();
      if (!dst.equals("default") && !dst.contains("/")) {
        dst = dst + (ipv6 ? "/128" : "/32");
      }
      routes.add(new PodRoute(dst, r.path("gateway").asText(""), r.get("dev").asText(), ipv6));
    }
    return routes;
  }

  /** Whether {@code tc -j qdisc show dev X} lists an ingress (or clsact) qdisc. */
  static boolean hasIngressQdisc(String json) {
    for (JsonNode q : array(json, "tc -j qdisc")) {
      String kind = q.path("kind").asText();
      if (kind.equals("ingress") || kind.equals("clsact")) {
        return true;
      }
    }
    return false;
  }

  /** Devices with an ingress or clsact qdisc, from {@code tc -j qdisc show} (all devices). */
  static List<String> devicesWithIngressQdisc(String json) {
    var devs = new ArrayList<String>();
    for (JsonNode q : array(json, "tc -j qdisc")) {
      String kind = q.path("kind").asText();
      if ((kind.equals("ingress") || kind.equals("clsact")) && q.hasNonNull("dev")) {
        devs.add(q.get("dev").asText());
      }
    }
    return devs;
  }

  /**
   * Every action on the filters of {@code tc -j filter show dev X ingress}: mirred ones with their
   * target device ("*" once that device is gone), others with an empty target.
   */
  static List<Mirred> ingressActions(String json) {
    var found = new ArrayList<Mirred>();
    for (JsonNode f : array(json, "tc -j filter")) {
      for (JsonNode a : f.path("options").path("actions")) {
        if (a.path("kind").asText().equals("mirred")) {
          found.add(new Mirred(a.path("mirred_action").asText(""), a.path("to_dev").asText("")));
        } else {
          found.add(new Mirred(a.path("kind").asText("?"), ""));
        }
      }
    }
    return found;
  }

  private static JsonNode array(String json, String what) {
    if (json.isBlank()) {
      return JSON.createArrayNode();
    }
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new NetworkException(
          NetworkException.Reason.BAD_OUTPUT,
          "cannot parse the output of `" + what + "` as JSON: " + e.getOriginalMessage());
    }
    if (!root.isArray()) {
      throw new NetworkException(
          NetworkException.Reason.BAD_OUTPUT,
          "`" + what + "` printed " + root.getNodeType() + " where a JSON array was expected");
    }
    return root;
  }

  private static JsonNode required(JsonNode n, String field, String what) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) {
      throw new NetworkException(
          NetworkException.Reason.BAD_OUTPUT,
          "`" + what + "` printed an entry without \"" + field + "\": " + n);
    }
    return v;
  }
}
