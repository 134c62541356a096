package dev.kataoperator.shim.pod;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Any;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.shim.containerd.RuntimeOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the shim takes from a container's OCI spec for its pod: hostname, the extra memory and vCPUs
 * the VM gets for the pod's limits, the network namespace to join, the cgroup. A pure function of
 * the JSON, so it is tested without a VM.
 *
 * @param extraMemoryMiB added to the configuration's base memory
 * @param extraVcpus added to the configuration's base vCPUs
 */
record PodSpec(
    String hostname,
    int extraMemoryMiB,
    int extraVcpus,
    Optional<Path> networkNamespace,
    String cgroupsPath) {

  static final ObjectMapper JSON = new ObjectMapper();
  static final Path DEFAULT_CONFIG = PayloadLayout.defaultConfig();

  private static final String SANDBOX_MEMORY = "io.kubernetes.cri.sandbox-memory";
  private static final String SANDBOX_CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
  private static final String SANDBOX_CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";

  /**
   * The pod description from the spec of its first container; {@code podId} names a nameless pod.
   */
  static PodSpec of(ObjectNode spec, String podId) {
    return new PodSpec(
        spec.path("hostname").asText(podId),
        memoryLimitMiB(spec),
        cpuLimit(spec),
        networkNamespace(spec),
        spec.path("linux").path("cgroupsPath").asText(""));
  }

  private static final String CRI_CONTAINER_TYPE = "io.kubernetes.cri.container-type";

  /**
   * Refuses a Kubernetes pod that asks for one of the node's namespaces: the pod runs in its own
   * VM, whose kernel cannot join the node's network, PID or IPC namespace. CRI leaves the namespace
   * out of every container's spec for hostNetwork, hostPID and hostIPC. Outside Kubernetes (ctr,
   * kata-run) a missing namespace means the VM's own, as it always did.
   */
  static void refuseHostNamespaces(ObjectNode spec) {
    if (!spec.path("annotations").has(CRI_CONTAINER_TYPE)) {
      return;
    }
    var asked = new HashSet<String>();
    for (var ns : spec.path("linux").path("namespaces")) {
      String type = ns.path("type").asText();
      asked.add(type);
      // A user-namespaced pod: CRI leaves the network namespace to the runtime and then runs CNI
      // in the namespace of the task's host process, QEMU's, which is the node's.
      if (type.equals("user") || (type.equals("network") && ns.path("path").asText("").isEmpty())) {
        throw new IllegalArgumentException(
            "kata-qemu cannot run a pod with hostUsers: false yet: the pod runs in its own VM,"
                + " and a user namespace of its own is not supported; remove hostUsers: false"
                + " from the pod or run it with runc (docs/compatibility.md)");
      }
    }
    for (var host :
        List.of(
            Map.entry("network", "hostNetwork"),
            Map.entry("pid", "hostPID"),
            Map.entry("ipc", "hostIPC"))) {
      if (!asked.contains(host.getKey())) {
        throw new IllegalArgumentException(
            "kata-qemu cannot run a pod with "
                + host.getValue()
                + ": the pod runs in its own VM, which cannot join the node's "
                + host.getKey()
                + " namespace; remove "
                + host.getValue()
                + " from the pod or run it with runc (docs/compatibility.md)");
      }
    }
  }

  /** Reads {@code bundle/config.json}; a malformed one is INVALID_ARGUMENT with the reason. */
  static ObjectNode read(Path bundle) throws IOException {
    Path file = bundle.resolve("config.json");
    try {
      if (JSON.readTree(file.toFile()) instanceof ObjectNode o) {
        return o;
      }
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(
          "malformed OCI spec " + file + ": " + e.getOriginalMessage());
    }
    throw new IllegalArgumentException("OCI spec " + file + " is not a JSON object");
  }

  /**
   * The runtime configuration to use: the runtime options' ConfigPath (CRI), else {@code
   * $KATA_CONFIG}, else the payload's default.
   */
  static Path configPath(Optional<Any> options) {
    return options
        .flatMap(RuntimeOptions::configPath)
        .map(Path::of)
        .or(() -> Optional.ofNullable(System.getenv("KATA_CONFIG")).map(Path::of))
        .orElse(DEFAULT_CONFIG);
  }

  /** The pod's network namespace (CNI's), when the spec names one to join. */
  static Optional<Path> networkNamespace(ObjectNode spec) {
    for (var ns : spec.path("linux").path("namespaces")) {
      String path = ns.path("path").asText("");
      if ("network".equals(ns.path("type").asText()) && !path.isEmpty()) {
        if (!path.startsWith("/") || path.contains("..")) {
          throw new IllegalArgumentException("network namespace path '" + path + "' is invalid");
        }
        return Optional.of(Path.of(path));
      }
    }
    return Optional.empty();
  }

  /**
   * The pod's memory limit in MiB, added on top of the VM's base memory: CRI's sandbox annotation
   * (containerd 1.7+, the sum of the pod's container limits), else the container's own limit (a
   * {@code ctr run --memory-limit}).
   */
  static int memoryLimitMiB(ObjectNode spec) {
    long limit = spec.path("annotations").path(SANDBOX_MEMORY).asLong(0);
    if (limit <= 0) {
      limit = spec.path("linux").path("resources").path("memory").path("limit").asLong(0);
    }
    return limit > 0 ? (int) Math.min(limit >> 20, 64 * 1024) : 0;
  }

  /** The pod's CPU limit in whole vCPUs (rounded up), added on top of the VM's base vCPUs. */
  static int cpuLimit(ObjectNode spec) {
    var annotations = spec.path("annotations");
    long quota = annotations.path(SANDBOX_CPU_QUOTA).asLong(0);
    long period = annotations.path(SANDBOX_CPU_PERIOD).asLong(0);
    if (quota <= 0 || period <= 0) {
      var cpu = spec.path("linux").path("resources").path("cpu");
      quota = cpu.path("quota").asLong(0);
      period = cpu.path("period").asLong(0);
    }
    return quota > 0 && period > 0 ? (int) Math.min((quota + period - 1) / period, 64) : 0;
  }
}
