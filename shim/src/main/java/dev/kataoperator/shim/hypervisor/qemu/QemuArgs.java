package dev.kataoperator.shim.hypervisor.qemu;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * QEMU's command line as small typed groups, each turning itself into arguments. Values that reach
 * QEMU's option parser are checked here once: a comma inside a value would start a new option.
 */
public final class QemuArgs {
  private QemuArgs() {}

  private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_./@:+=-]*");

  /** One argument group. */
  public sealed interface Arg
      permits Machine,
          Accel,
          Cpu,
          Memory,
          FileMemory,
          IncomingDeferred,
          Smp,
          Kernel,
          Qmp,
          SerialConsole,
          VirtioSerialPort,
          NinePShare,
          VirtioFsShare,
          TapNic,
          Rng,
          FreePageReporting,
          Flags {
    List<String> args();
  }

  /** Builds {@code key=value,...} after checking every value. */
  static String props(String first, Map<String, String> props) {
    var sb = new StringBuilder(check(first));
    props.forEach((k, v) -> sb.append(',').append(k).append('=').append(check(v)));
    return sb.toString();
  }

  static String check(String value) {
    if (!SAFE.matcher(value).matches()) {
      throw new IllegalArgumentException("unsafe character in QEMU option value: " + value);
    }
    return value;
  }

  static Map<String, String> map(String... kv) {
    var m = new LinkedHashMap<String, String>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  /** Machine type; {@code pc} with the options that make it boot fast. */
  public record Machine(String type) implements Arg {
    public List<String> args() {
      return List.of("-machine", props(type, map("graphics", "off")));
    }
  }

  /**
   * The accelerator. Under TCG the translation cache is capped ({@link #TCG_TB_SIZE_MIB}): QEMU's
   * default reserves 1 GiB, which fills with every guest code page ever translated, so a long-lived
   * VM's QEMU would grow past what the pod's overhead holds (contract PodOverhead); a boot touches
   * about 46 MiB, and 32 MiB costs it no measurable time (docs/benchmarks.md).
   */
  public record Accel(String name, int tbSizeMiB) implements Arg {
    public static final int TCG_TB_SIZE_MIB = 32;

    public static Accel kvm() {
      return new Accel("kvm", 0);
    }

    public static Accel tcg() {
      return new Accel("tcg", TCG_TB_SIZE_MIB);
    }

    public List<String> args() {
      return List.of(
          "-accel",
          tbSizeMiB > 0 ? props(name, map("tb-size", Integer.toString(tbSizeMiB))) : check(name));
    }
  }

  public record Cpu(String model) implements Arg {
    public List<String> args() {
      return List.of("-cpu", check(model));
    }
  }

  /**
   * Guest RAM. A shared memfd backend is what vhost-user devices (virtio-fs) need to map guest
   * memory from another process.
   */
  public record Memory(int mib, boolean sharedBackend) implements Arg {
    public List<String> args() {
      return sharedBackend
          ? backedMemory(mib, "memory-backend-memfd", map("share", "on"))
          : List.of("-m", mib + "M");
    }
  }

  /**
   * Guest RAM in a file, for VM templates: the template maps it shared (what it writes lands in the
   * file, which then holds the booted guest's memory); a VM restored from it maps it private, so it
   * reads the template's pages from the page cache, shared with every VM of that template, and gets
   * a copy of a page only when it writes one.
   */
  public record FileMemory(int mib, Path file, boolean shared) implements Arg {
    public List<String> args() {
      return backedMemory(
          mib,
          "memory-backend-file",
          map("mem-path", file.toString(), "share", shared ? "on" : "off"));
    }
  }

  /** {@code mib} of guest RAM from a memory backend object of {@code type} with {@code props}. */
  private static List<String> backedMemory(int mib, String type, Map<String, String> props) {
    var backend = map("id", "mem", "size", mib + "M");
    backend.putAll(props);
    return List.of(
        "-m",
        mib + "M",
        "-object",
        props(type, backend),
        "-numa",
        props("node", map("memdev", "mem")));
  }

  /** Starts paused, waiting for a migration stream ({@code migrate-incoming} on QMP). */
  public record IncomingDeferred() implements Arg {
    public List<String> args() {
      return List.of("-incoming", "defer");
    }
  }

  public record Smp(int cpus) implements Arg {
    public List<String> args() {
      return List.of("-smp", Integer.toString(cpus));
    }
  }

  /** Direct kernel boot; the command line is one argument and not parsed for commas. */
  public record Kernel(Path kernel, Path initrd, String cmdline) implements Arg {
    public List<String> args() {
      return List.of(
          "-kernel", kernel.toString(), "-initrd", initrd.toString(), "-append", cmdline);
    }
  }

  /** QMP control socket, QEMU listening. */
  public record Qmp(Path socket) implements Arg {
    public List<String> args() {
      return List.of(
          "-chardev",
          props(
              "socket", map("id", "qmp", "path", socket.toString(), "server", "on", "wait", "off")),
          "-mon",
          props("chardev=qmp", map("mode", "control")));
    }
  }

  /**
   * The guest's serial console, sent to the unix socket where the shim listens ({@link
   * GuestConsole}); QEMU connects at startup and fails to start if nobody listens.
   */
  public record SerialConsole(Path socket) implements Arg {
    public List<String> args() {
      return List.of(
          "-chardev",
          props("socket", map("id", "console", "path", socket.toString())),
          "-serial",
          "chardev:console");
    }
  }

  /** A named virtio-serial port on a unix socket where QEMU listens. */
  public record VirtioSerialPort(String name, Path socket) implements Arg {
    public List<String> args() {
      return List.of(
          "-device",
          "virtio-serial-pci,id=serial0",
          "-chardev",
          props(
              "socket",
              map("id", "ch-" + name, "path", socket.toString(), "server", "on", "wait", "off")),
          "-device",
          props("virtserialport", map("chardev", "ch-" + name, "name", name)));
    }
  }

  /** A host directory over virtio-9p. */
  public record NinePShare(String tag, Path dir, boolean readOnly) implements Arg {
    public List<String> args() {
      var fsdev = map("id", "fs-" + tag, "path", dir.toString(), "security_model", "none");
      if (readOnly) {
        fsdev.put("readonly", "on");
      }
      return List.of(
          "-fsdev",
          props("local", fsdev),
          "-device",
          props("virtio-9p-pci", map("fsdev", "fs-" + tag, "mount_tag", tag)));
    }
  }

  /** A host directory over virtio-fs, served by a virtiofsd listening on {@code socket}. */
  public record VirtioFsShare(String tag, Path socket) implements Arg {
    public List<String> args() {
      return List.of(
          "-chardev",
          props("socket", map("id", "vfs-" + tag, "path", socket.toString())),
          "-device",
          props("vhost-user-fs-pci", map("chardev", "vfs-" + tag, "tag", tag)));
    }
  }

  /** A NIC on an existing tap device; QEMU neither creates nor configures it. */
  public record TapNic(String id, String tap, String mac) implements Arg {
    public List<String> args() {
      return List.of(
          "-netdev",
          props("tap", map("id", id, "ifname", tap, "script", "no", "downscript", "no")),
          "-device",
          // romfile= (empty): no iPXE option ROM, which SeaBIOS would spend boot time on.
          props("virtio-net-pci", map("netdev", id, "mac", mac, "romfile", "")));
    }
  }

  /**
   * A balloon that only takes back what the guest freed (free page reporting; it is never
   * inflated): pages the guest no longer uses, such as the initramfs image after it is unpacked, go
   * back to the host instead of staying in QEMU's memory for the VM's life.
   */
  public record FreePageReporting() implements Arg {
    public List<String> args() {
      return List.of(
          "-device",
          props("virtio-balloon-pci", map("id", "balloon0", "free-page-reporting", "on")));
    }
  }

  /** Entropy for the guest, so early boot does not stall on getrandom. */
  public record Rng() implements Arg {
    public List<String> args() {
      return List.of(
          "-object",
          "rng-random,id=rng0,filename=/dev/urandom",
          "-device",
          "virtio-rng-pci,rng=rng0");
    }
  }

  /** Flags with no value: no default devices, no display, exit instead of rebooting. */
  public record Flags(List<String> flags) implements Arg {
    public static Flags defaults() {
      return new Flags(
          List.of(
              "-nodefaults",
              "-nographic",
              "-no-user-config",
              "-no-reboot",
              // QEMU's seccomp filter: a guest that breaks into QEMU still cannot use obsolete
              // syscalls, gain privileges (setuid and friends), start programs or change its
              // scheduling and limits. QEMU needs none of these after startup.
              "-sandbox",
              "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
    }

    public List<String> args() {
      return flags;
    }
  }

  /** The whole command line, in the order given. */
  public static List<String> commandLine(Path qemu, List<Arg> groups) {
    var cmd = new ArrayList<String>();
    cmd.add(qemu.toString());
    groups.forEach(g -> cmd.addAll(g.args()));
    return List.copyOf(cmd);
  }
}
