package dev.kataoperator.installer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.contract.VirtualizationPolicy;
import dev.kataoperator.installer.containerd.ContainerdInstallation;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

/**
 * The installer's command line. Today: {@code check}, which prints the host check as JSON and exits
 * 0 when kata-qemu can run here (with KVM or allowed emulation), 3 when it cannot, 2 on bad usage.
 */
public final class Main {
  static final int OK = 0;
  static final int FAILED = 1;
  static final int USAGE = 2;
  static final int UNSUPPORTED = 3;

  static final String USAGE_TEXT =
      """
      usage: runtime-node-installer check [options]
        --policy RequireHardware|AllowSoftwareEmulation   (env KATA_VIRTUALIZATION_POLICY,
                                                          default RequireHardware)
        --host-root DIR          where the host's files are (env HOST_ROOT, default /)
        --containerd-flavor auto|containerd|k3s|rke2      (env KATA_CONTAINERD_FLAVOR)
        --containerd-config PATH  host path of the config to edit (env KATA_CONTAINERD_CONFIG)
        --containerd-binary PATH  binary to ask for --version instead of the running one
      """;

  private Main() {}

  public static void main(String[] args) {
    System.exit(run(List.of(args), System.out, System.err));
  }

  static int run(List<String> argv, PrintStream out, PrintStream err) {
    Deque<String> args = new ArrayDeque<>(argv);
    if (args.isEmpty() || !args.peekFirst().equals("check")) {
      err.print(USAGE_TEXT);
      return USAGE;
    }
    args.removeFirst();
    String policy = env("KATA_VIRTUALIZATION_POLICY", "RequireHardware");
    String hostRoot = env("HOST_ROOT", "/");
    String flavor = env("KATA_CONTAINERD_FLAVOR", "auto");
    String config = env("KATA_CONTAINERD_CONFIG", "");
    String binary = "";
    try {
      while (!args.isEmpty()) {
        String a = args.removeFirst();
        if (args.isEmpty()) {
          throw new IllegalArgumentException("missing value for " + a);
        }
        String v = args.removeFirst();
        switch (a) {
          case "--policy" -> policy = v;
          case "--host-root" -> hostRoot = v;
          case "--containerd-flavor" -> flavor = v;
          case "--containerd-config" -> config = v;
          case "--containerd-binary" -> binary = v;
          default -> throw new IllegalArgumentException("unknown option " + a);
        }
      }
      VirtualizationPolicy p = VirtualizationPolicy.parse(policy);
      Optional<ContainerdFlavor> f = ContainerdFlavor.parseExplicit(flavor);
      var query =
          new ContainerdInstallation.Query(
              Path.of(hostRoot),
              Optional.of(Path.of("/proc")),
              f,
              config.isEmpty() ? Optional.empty() : Optional.of(Path.of(config)),
              binary.isEmpty() ? Optional.empty() : Optional.of(Path.of(binary)));
      Path mounts = Path.of("/proc/1/mounts");
      if (!Files.isReadable(mounts)) {
        mounts = Path.of("/proc/self/mounts");
      }
      HostCheck check = HostCheck.run(new HostCheck.Inputs(Path.of("/"), mounts, query), p);
      var mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
      out.println(mapper.writeValueAsString(check.toJson(mapper)));
      return check.verdict() == HostCheck.Verdict.UNSUPPORTED ? UNSUPPORTED : OK;
    } catch (IllegalArgumentException e) {
      err.println("runtime-node-installer: " + e.getMessage());
      err.print(USAGE_TEXT);
      return USAGE;
    } catch (Exception e) {
      err.println("runtime-node-installer: check failed: " + e);
      return FAILED;
    }
  }

  private static String env(String name, String def) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? def : v;
  }
}
