package dev.kataoperator.installer.containerd;

import dev.kataoperator.contract.ContainerdFlavor;
import dev.kataoperator.installer.cri.CriClient;
import dev.kataoperator.installer.cri.CriException;
import dev.kataoperator.installer.cri.v1.VersionResponse;
import dev.kataoperator.installer.host.HostProcesses;
import dev.kataoperator.installer.host.Native;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;

/**
 * The containerd on a node: which process serves the CRI socket, its flavor, release and the config
 * the installer edits.
 *
 * <p>containerd is found by what a tenant cannot fake. The kernel says who listens on the CRI
 * socket (SO_PEERCRED on a connection to it, reached through the host's root file system); that
 * process must run as root in the host's mount namespace. Only when no socket answers are the
 * host's processes scanned for one named containerd, and the same rules apply to it (a process in a
 * pod can call itself containerd; it cannot be root in the host's mount namespace). The release
 * comes from CRI's Version call. Nothing found through /proc is ever executed.
 *
 * @param flavor plain containerd, k3s or rke2
 * @param config the config the installer edits (a host path; k3s and rke2: the template)
 * @param configExists whether that file exists
 * @param socket the CRI socket (a host path): the one found, else where containerd should serve
 * @param running the process serving CRI, if one was found and accepted
 * @param version its release, from CRI Version
 * @param versionOutput CRI's {@code runtime_name runtime_version}, or why there is none
 * @param source how it was found
 * @param rejected every candidate turned down, and why (for the report)
 */
public record ContainerdInstallation(
    ContainerdFlavor flavor,
    Path config,
    boolean configExists,
    Path socket,
    Optional<Running> running,
    Optional<ContainerdVersion> version,
    String versionOutput,
    String source,
    List<String> rejected) {

  static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

  /**
   * The containerd that serves CRI.
   *
   * @param pid its pid (the host's pid namespace)
   * @param socket its CRI socket (a host path)
   * @param configArg the config it reads: its {@code --config}, else containerd's default
   * @param comm its command name, for the report
   */
  public record Running(long pid, Path socket, Path configArg, String comm) {}

  /**
   * Where to look.
   *
   * @param hostRoot where the host's files the installer edits are mounted ({@code /host})
   * @param processes the host's processes (with hostPID: /proc, the host's init)
   * @param flavor a flavor to assume instead of detecting one
   * @param config a config path (host path) instead of the flavor's
   * @param socket a CRI socket (host path) instead of the config's or the flavor's
   */
  public record Query(
      Path hostRoot,
      HostProcesses processes,
      Optional<ContainerdFlavor> flavor,
      Optional<Path> config,
      Optional<Path> socket) {}

  public static ContainerdInstallation detect(Query q) {
    List<String> rejected = new ArrayList<>();
    Optional<Running> running = Optional.empty();
    String source = "";
    List<Path> candidates = candidateSockets(q);
    for (Path socket : candidates) {
      Optional<Running> r = bySocket(q, socket, rejected);
      if (r.isPresent()) {
        running = r;
        source = "CRI socket " + socket + " (served by pid " + r.get().pid() + ")";
        break;
      }
    }
    if (running.isEmpty() && q.socket().isEmpty() && q.config().isEmpty()) {
      running = byProcessScan(q, rejected);
      source = running.map(r -> "process " + r.pid() + ", serving " + r.socket()).orElse("");
    }
    Optional<Running> found = running;
    ContainerdFlavor flavor =
        q.flavor()
            .orElseGet(
                () ->
                    found
                        .map(r -> ContainerdFlavor.ofConfigPath(r.configArg()))
                        .orElseGet(() -> detectFlavor(q.hostRoot())));
    Path config =
        q.config()
            .orElseGet(
                () ->
                    flavor == ContainerdFlavor.containerd
                        ? found.map(Running::configArg).orElse(flavor.config())
                        : flavor.config());
    Optional<ContainerdVersion> version = Optional.empty();
    String versionOutput;
    if (running.isEmpty()) {
      versionOutput = "(no containerd found)";
    } else {
      try (CriClient cri = CriClient.open(q.processes().onHostRootFs(running.get().socket()))) {
        VersionResponse v = cri.version(CALL_TIMEOUT);
        versionOutput = v.getRuntimeName() + " " + v.getRuntimeVersion();
        if (v.getRuntimeName().equals("containerd")) {
          version = parse(v.getRuntimeVersion());
        } else {
          rejected.add(running.get().socket() + ": the CRI runtime there is " + v.getRuntimeName());
          running = Optional.empty();
        }
      } catch (CriException e) {
        versionOutput = "(" + e.getMessage() + ")";
      }
    }
    return new ContainerdInstallation(
        flavor,
        config,
        Files.exists(onHost(q.hostRoot(), config)),
        running.map(Running::socket).orElse(candidates.getFirst()),
        running,
        version,
        versionOutput,
        source.isEmpty() ? "not found" : source,
        List.copyOf(rejected));
  }

  /**
   * Why the running containerd does not read the config the installer would edit, if it does not (a
   * KataConfig naming the wrong file would otherwise fail only after a restart).
   */
  public Optional<String> configMismatch() {
    if (running.isEmpty()) {
      return Optional.empty();
    }
    Path reads = running.get().configArg().normalize();
    Path expected = flavor.usesTemplate() ? flavor.renderedConfig() : config.normalize();
    if (reads.equals(expected)) {
      return Optional.empty();
    }
    return Optional.of(
        "containerd (pid "
            + running.get().pid()
            + ") reads "
            + reads
            + ", not "
            + expected
            + (flavor.usesTemplate() ? " (rendered from " + config + ")" : "")
            + "; set spec.containerd.configPath to the file it reads");
  }

  private static Optional<ContainerdVersion> parse(String s) {
    try {
      return Optional.of(ContainerdVersion.parse(s));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }

  /** The sockets to try, in order (host paths). */
  static List<Path> candidateSockets(Query q) {
    if (q.socket().isPresent()) {
      return List.of(q.socket().get());
    }
    Set<Path> out = new LinkedHashSet<>();
    if (q.config().isPresent()) {
      out.add(grpcAddress(q.hostRoot(), q.config().get()).orElse(defaultSocket(q)));
      return List.copyOf(out);
    }
    List<ContainerdFlavor> flavors =
        q.flavor()
            .map(List::of)
            .orElseGet(
                () -> {
                  ContainerdFlavor detected = detectFlavor(q.hostRoot());
                  return Stream.concat(
                          Stream.of(detected),
                          Stream.of(ContainerdFlavor.containerd, ContainerdFlavor.k3s))
                      .distinct()
                      .toList();
                });
    for (ContainerdFlavor f : flavors) {
      if (f == ContainerdFlavor.containerd) {
        grpcAddress(q.hostRoot(), f.config()).ifPresent(out::add);
      }
      out.add(f.socket());
    }
    return List.copyOf(out);
  }

  private static Path defaultSocket(Query q) {
    return q.flavor().orElse(ContainerdFlavor.containerd).socket();
  }

  /** {@code [grpc] address} of a containerd config (host path), if set and readable. */
  static Optional<Path> grpcAddress(Path hostRoot, Path config) {
    try {
      Path file = onHost(hostRoot, config);
      if (!Files.isRegularFile(file)) {
        return Optional.empty();
      }
      TomlParseResult t = Toml.parse(Files.readString(file));
      String a = t.hasErrors() ? null : t.getString(List.of("grpc", "address"));
      if (a == null || a.isBlank()) {
        return Optional.empty();
      }
      if (a.startsWith("unix://")) {
        a = a.substring("unix://".length());
      }
      return Path.of(a).isAbsolute() ? Optional.of(Path.of(a)) : Optional.empty();
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  private static Optional<Running> bySocket(Query q, Path socket, List<String> rejected) {
    Path here = q.processes().onHostRootFs(socket);
    if (!Files.exists(here)) {
      rejected.add(socket + ": no such socket");
      return Optional.empty();
    }
    Native.PeerCredentials peer;
    try {
      peer = Native.peerCredentials(here);
    } catch (IOException e) {
      rejected.add(socket + ": " + e.getMessage());
      return Optional.empty();
    }
    if (peer.uid() != 0) {
      rejected.add(
          socket + ": served by pid " + peer.pid() + " as uid " + peer.uid() + ", not root");
      return Optional.empty();
    }
    Optional<String> refusal = refusal(q.processes(), peer.pid());
    if (refusal.isPresent()) {
      rejected.add(socket + ": " + refusal.get());
      return Optional.empty();
    }
    return Optional.of(running(q.processes(), peer.pid(), socket));
  }

  /**
   * The lowest-pid process named containerd that runs as root in the host's mount namespace, and
   * only if the socket it names is really served by it.
   */
  private static Optional<Running> byProcessScan(Query q, List<String> rejected) {
    HostProcesses p = q.processes();
    for (long pid : p.pids()) {
      if (!p.comm(pid).map("containerd"::equals).orElse(false)) {
        continue;
      }
      Optional<String> refusal = refusal(p, pid);
      if (refusal.isPresent()) {
        rejected.add("process " + pid + " named containerd: " + refusal.get());
        continue;
      }
      List<String> args = p.cmdline(pid);
      Path config = configArg(args, p.cwd(pid)).orElse(ContainerdFlavor.containerd.config());
      Path socket =
          addressArg(args)
              .or(() -> grpcAddress(q.hostRoot(), config))
              .orElse(ContainerdFlavor.containerd.socket());
      try {
        long served = Native.peerCredentials(p.onHostRootFs(socket)).pid();
        if (served == pid) {
          return Optional.of(running(p, pid, socket));
        }
        rejected.add(
            "process " + pid + " named containerd: " + socket + " is served by pid " + served);
      } catch (IOException e) {
        rejected.add("process " + pid + " named containerd: " + e.getMessage());
      }
    }
    return Optional.empty();
  }

  /** Why {@code pid} cannot be the node's containerd, if it cannot. */
  private static Optional<String> refusal(HostProcesses p, long pid) {
    Optional<int[]> uids = p.uids(pid);
    if (uids.isEmpty()) {
      return Optional.of("pid " + pid + " cannot be read");
    }
    if (uids.get()[0] != 0 || uids.get()[1] != 0) {
      return Optional.of("pid " + pid + " runs as uid " + uids.get()[1] + ", not root");
    }
    if (!p.inHostMountNamespace(pid)) {
      return Optional.of(
          "pid " + pid + " runs in another mount namespace than the host's (a container)");
    }
    return Optional.empty();
  }

  private static Running running(HostProcesses p, long pid, Path socket) {
    List<String> args = p.cmdline(pid);
    return new Running(
        pid,
        socket,
        configArg(args, p.cwd(pid)).orElse(ContainerdFlavor.containerd.config()),
        p.comm(pid).orElse("?"));
  }

  static ContainerdFlavor detectFlavor(Path hostRoot) {
    for (ContainerdFlavor f : List.of(ContainerdFlavor.rke2, ContainerdFlavor.k3s)) {
      if (Stream.concat(f.markers().stream(), f.binaries().stream())
          .anyMatch(path -> Files.exists(onHost(hostRoot, path)))) {
        return f;
      }
    }
    return ContainerdFlavor.containerd;
  }

  /** {@code --config}/{@code -c} in containerd's arguments; a relative one against its cwd. */
  static Optional<Path> configArg(List<String> args, Optional<Path> cwd) {
    return option(args, "--config", "-c")
        .map(Path::of)
        .map(p -> p.isAbsolute() ? p : cwd.map(d -> d.resolve(p)).orElse(p));
  }

  /** {@code --address}/{@code -a} in containerd's arguments. */
  static Optional<Path> addressArg(List<String> args) {
    return option(args, "--address", "-a").map(Path::of).filter(Path::isAbsolute);
  }

  private static Optional<String> option(List<String> args, String longName, String shortName) {
    for (int i = 1; i < args.size(); i++) {
      String a = args.get(i);
      if ((a.equals(longName) || a.equals(shortName)) && i + 1 < args.size()) {
        return Optional.of(args.get(i + 1));
      }
      for (String prefix : List.of(longName + "=", shortName + "=")) {
        if (a.startsWith(prefix)) {
          return Optional.of(a.substring(prefix.length()));
        }
      }
    }
    return Optional.empty();
  }

  static Path onHost(Path hostRoot, Path hostPath) {
    return hostRoot.resolve(hostPath.toString().substring(1));
  }
}
