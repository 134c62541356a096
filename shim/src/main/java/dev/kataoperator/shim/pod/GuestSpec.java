package dev.kataoperator.shim.pod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Rewrites a container's OCI spec from host terms into guest terms: a bind mount of a host path
 * (CRI's /etc/hosts, /etc/resolv.conf, volumes, secrets) becomes a mount of the same content shared
 * into the guest. Paths from the spec are taken only as sources of bind mounts the shim itself
 * makes, each under the container's own share directory.
 */
final class GuestSpec {
  /** A host path to bind into the share, and where the guest finds it. */
  record Share(Path hostSource, Path shareTarget, String guestPath, boolean readOnly) {}

  /** The adapted spec and the binds the shim must make before creating the container. */
  record Adapted(ObjectNode spec, List<Share> shares) {}

  // Filesystems the guest kernel provides itself; never taken from the host.
  private static final Set<String> GUEST_LOCAL =
      Set.of("proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "shm");

  private GuestSpec() {}

  /**
   * Refuses a mount with Bidirectional propagation ({@code rshared}, or {@code shared} on a bind):
   * mounts cannot propagate between the node's kernel and the guest's. HostToContainer ({@code
   * rslave}) is accepted: the container sees the volume as it was when the container was created.
   */
  static void refuseBidirectionalPropagation(ObjectNode spec) {
    for (JsonNode m : spec.path("mounts")) {
      for (JsonNode o : m.path("options")) {
        if (o.asText().equals("rshared") || o.asText().equals("shared")) {
          throw new IllegalArgumentException(
              "kata-qemu cannot give the mount at "
                  + m.path("destination").asText()
                  + " Bidirectional (rshared) propagation: the container runs in a VM, whose"
                  + " mounts cannot propagate to or from the node; use mountPropagation None or"
                  + " HostToContainer, or run the pod with runc (docs/compatibility.md)");
        }
      }
    }
  }

  /**
   * @param spec the bundle's config.json (modified in place)
   * @param shareDir host directory for this container's shares (inside the sandbox's share)
   * @param guestShareDir the same directory as the guest sees it
   */
  static Adapted adapt(ObjectNode spec, Path shareDir, String guestShareDir) {
    var shares = new ArrayList<Share>();
    JsonNode mounts = spec.path("mounts");
    if (mounts instanceof ArrayNode array) {
      int i = 0;
      for (JsonNode m : array) {
        if (!(m instanceof ObjectNode mount)) {
          continue;
        }
        String type = mount.path("type").asText("");
        List<String> options = new ArrayList<>();
        mount.path("options").forEach(o -> options.add(o.asText()));
        boolean bind = type.equals("bind") || options.contains("bind") || options.contains("rbind");
        String destination = mount.path("destination").asText("");
        if (!bind || GUEST_LOCAL.contains(type)) {
          continue;
        }
        if (destination.equals("/dev/shm")) {
          // A host shm directory shared over 9p is not shared memory; give the guest a tmpfs.
          mount.put("type", "tmpfs").put("source", "shm");
          mount.set(
              "options",
              mount.arrayNode().add("nosuid").add("noexec").add("nodev").add("mode=1777"));
          continue;
        }
        String source = mount.path("source").asText("");
        if (!source.startsWith("/")) {
          throw new IllegalArgumentException(
              "bind mount for " + destination + " has a relative source '" + source + "'");
        }
        Path host = Path.of(source).normalize();
        String name =
            (i++)
                + "-"
                + sanitize(host.getFileName() == null ? "root" : host.getFileName().toString());
        Path target = shareDir.resolve(name);
        shares.add(new Share(host, target, guestShareDir + "/" + name, options.contains("ro")));
        mount.put("source", guestShareDir + "/" + name);
      }
    }
    return new Adapted(spec, shares);
  }

  private static String sanitize(String name) {
    String s = name.replaceAll("[^A-Za-z0-9_.-]", "_");
    return s.length() > 40 ? s.substring(0, 40) : s;
  }
}
