package dev.kataoperator.installer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.VirtualizationPolicy;
import dev.kataoperator.installer.containerd.ContainerdInstallation;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Whether and how this node can run kata-qemu: the facts (virtualization, /dev/net/tun, cgroups,
 * containerd) and the one decision drawn from them under the KataConfig's policy.
 *
 * @param verdict KVM, software emulation, or not at all
 * @param reason one line: why this verdict (the first blocking fact, or what enables it)
 */
public record HostCheck(
    HostVirtualization virtualization,
    boolean tun,
    CgroupLayout cgroups,
    ContainerdInstallation containerd,
    VirtualizationPolicy policy,
    Verdict verdict,
    String reason) {

  /** How kata-qemu can run here. */
  public enum Verdict {
    KVM,
    SOFTWARE_EMULATION,
    UNSUPPORTED;

    /** {@code kvm}, {@code software-emulation}, {@code unsupported}. */
    public String label() {
      return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }
  }

  /**
   * Where to look.
   *
   * @param system root of the file system whose /proc, /sys and /dev describe the kernel and
   *     devices ({@code /}; the installer pod is privileged and sees the host's)
   * @param mounts the host's mount table, for the cgroup layout ({@code /proc/1/mounts} with
   *     hostPID)
   * @param containerd where to look for containerd
   */
  public record Inputs(Path system, Path mounts, ContainerdInstallation.Query containerd) {}

  /** Looks at the node and decides. */
  public static HostCheck run(Inputs in, VirtualizationPolicy policy) {
    HostVirtualization virt = HostVirtualization.probe(in.system());
    boolean tun = isCharDevice(in.system().resolve("dev/net/tun"));
    CgroupLayout cgroups;
    try {
      cgroups = CgroupLayout.read(in.mounts());
    } catch (IOException e) {
      cgroups = CgroupLayout.NONE;
    }
    ContainerdInstallation containerd = ContainerdInstallation.detect(in.containerd());
    return decide(virt, tun, cgroups, containerd, policy);
  }

  /** The decision, from facts alone. */
  public static HostCheck decide(
      HostVirtualization virt,
      boolean tun,
      CgroupLayout cgroups,
      ContainerdInstallation containerd,
      VirtualizationPolicy policy) {
    Verdict verdict = Verdict.UNSUPPORTED;
    String reason;
    if (containerd.running().isEmpty()) {
      reason =
          "no containerd serves CRI on this node"
              + (containerd.rejected().isEmpty()
                  ? ""
                  : " (" + String.join("; ", containerd.rejected()) + ")")
              + "; is containerd running?";
    } else if (containerd.version().isEmpty()) {
      reason = "cannot tell containerd's release from CRI Version: " + containerd.versionOutput();
    } else if (!containerd.version().get().isSupported()) {
      reason =
          "containerd "
              + containerd.version().get()
              + " is older than 1.6, the oldest the installer configures";
    } else if (containerd.configMismatch().isPresent()) {
      reason = containerd.configMismatch().get();
    } else if (!tun) {
      reason = "/dev/net/tun is missing: pods' VMs need tap devices for their network";
    } else if (cgroups == CgroupLayout.NONE) {
      reason = "no cgroup file system is mounted under /sys/fs/cgroup";
    } else if (virt.kvmUsable()) {
      verdict = Verdict.KVM;
      reason = "KVM: " + virt.reason();
    } else if (policy == VirtualizationPolicy.AllowSoftwareEmulation) {
      verdict = Verdict.SOFTWARE_EMULATION;
      reason = "software emulation (QEMU TCG), allowed by the KataConfig: " + virt.reason();
    } else {
      reason =
          "no usable KVM ("
              + virt.reason()
              + ") and the KataConfig requires hardware virtualization; set spec.virtualization"
              + " to AllowSoftwareEmulation to run slow software-emulated VMs here";
    }
    return new HostCheck(virt, tun, cgroups, containerd, policy, verdict, reason);
  }

  /** The report as JSON: what the installer puts on the node and prints for {@code check}. */
  public ObjectNode toJson(ObjectMapper mapper) {
    ObjectNode root = mapper.createObjectNode();
    root.put("verdict", verdict.label());
    root.put("reason", reason);
    root.put("policy", policy.name());
    ObjectNode v = root.putObject("virtualization");
    v.put("kind", virtualization.kind().label());
    v.put("reason", virtualization.reason());
    root.put("tun", tun);
    root.put("cgroups", cgroups.label());
    ObjectNode c = root.putObject("containerd");
    c.put("flavor", containerd.flavor().label());
    c.put("version", containerd.version().map(Object::toString).orElse(null));
    c.put("versionOutput", containerd.versionOutput());
    containerd
        .running()
        .ifPresent(
            r -> {
              c.put("pid", r.pid());
              c.put("socket", r.socket().toString());
              c.put("reads", r.configArg().toString());
            });
    c.put("foundBy", containerd.source());
    var rejected = c.putArray("rejected");
    containerd.rejected().forEach(rejected::add);
    c.put("config", containerd.config().toString());
    c.put("configExists", containerd.configExists());
    return root;
  }

  private static boolean isCharDevice(Path p) {
    try {
      int mode = (Integer) Files.getAttribute(p, "unix:mode");
      return (mode & 0170000) == 0020000;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return false;
    }
  }
}
