package dev.kataoperator.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * The OCI runtime spec kata-run gives a container: the defaults containerd gives a container
 * (namespaces, the usual mounts, default capabilities, masked paths) plus the user's process.
 */
final class OciSpecs {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> DEFAULT_CAPS =
      List.of(
          "CAP_CHOWN",
          "CAP_DAC_OVERRIDE",
          "CAP_FSETID",
          "CAP_FOWNER",
          "CAP_MKNOD",
          "CAP_NET_RAW",
          "CAP_SETGID",
          "CAP_SETUID",
          "CAP_SETFCAP",
          "CAP_SETPCAP",
          "CAP_NET_BIND_SERVICE",
          "CAP_SYS_CHROOT",
          "CAP_KILL",
          "CAP_AUDIT_WRITE");

  private OciSpecs() {}

  static ObjectNode forRun(KataRunOptions o, String hostname) {
    ObjectNode spec = JSON.createObjectNode().put("ociVersion", "1.1.0");
    ObjectNode process = spec.putObject("process").put("terminal", o.tty()).put("cwd", o.workdir());
    process.putObject("user").put("uid", o.uid()).put("gid", o.gid());
    process.set("args", JSON.valueToTree(o.command()));
    ArrayNode env = process.putArray("env");
    env.add("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    if (o.tty()) {
      env.add("TERM=" + System.getenv().getOrDefault("TERM", "xterm"));
    }
    o.env().forEach(env::add);
    ObjectNode caps = process.putObject("capabilities");
    for (String set : List.of("bounding", "effective", "permitted")) {
      caps.set(set, JSON.valueToTree(DEFAULT_CAPS));
    }
    process
        .putArray("rlimits")
        .addObject()
        .put("type", "RLIMIT_NOFILE")
        .put("hard", 1048576)
        .put("soft", 1048576);
    process.put("noNewPrivileges", true);
    spec.putObject("root").put("path", "rootfs").put("readonly", o.readOnly());
    spec.put("hostname", hostname);

    ArrayNode mounts = spec.putArray("mounts");
    mount(mounts, "/proc", "proc", "proc", "nosuid", "noexec", "nodev");
    mount(mounts, "/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k");
    mount(
        mounts,
        "/dev/pts",
        "devpts",
        "devpts",
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5");
    mount(
        mounts,
        "/dev/shm",
        "tmpfs",
        "shm",
        "nosuid",
        "noexec",
        "nodev",
        "mode=1777",
        "size=65536k");
    mount(mounts, "/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
    mount(mounts, "/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
    mount(
        mounts,
        "/sys/fs/cgroup",
        "cgroup2",
        "cgroup",
        "nosuid",
        "noexec",
        "nodev",
        "relatime",
        "ro");
    mount(mounts, "/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777");

    ObjectNode linux = spec.putObject("linux");
    ArrayNode ns = linux.putArray("namespaces");
    for (String t : List.of("pid", "ipc", "uts", "mount", "cgroup")) {
      ns.addObject().put("type", t);
    }
    linux.set(
        "maskedPaths",
        JSON.valueToTree(
            List.of(
                "/proc/acpi",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/sched_debug",
                "/sys/firmware")));
    linux.set(
        "readonlyPaths",
        JSON.valueToTree(
            List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")));
    return spec;
  }

  private static void mount(
      ArrayNode mounts, String dest, String type, String source, String... opts) {
    mounts
        .addObject()
        .put("destination", dest)
        .put("type", type)
        .put("source", source)
        .set("options", JSON.valueToTree(List.of(opts)));
  }

  static byte[] toBytes(ObjectNode spec) {
    try {
      return JSON.writeValueAsBytes(spec);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
