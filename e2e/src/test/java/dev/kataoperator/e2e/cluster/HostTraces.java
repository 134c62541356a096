package dev.kataoperator.e2e.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What a local cluster can leave on the host, read from the kernel's own listings (not from what
 * e2e/cluster/down reports about itself).
 *
 * @param processes "pid cmdline" of processes naming the state dir or in a cgroup under the
 *     kubelet's cgroupRoot
 * @param mounts mount points under the state dir
 * @param links every network interface's name
 * @param chains "command table chain" for every KUBE-* and CNI-* chain (iptables and ip6tables)
 * @param cgroups cgroup directories under the cgroupRoot, in every hierarchy
 * @param netns named network namespaces (/run/netns)
 * @param sysctls the kernel settings the kubelet changes and pod networking needs
 */
record HostTraces(
    List<String> processes,
    List<String> mounts,
    List<String> links,
    List<String> chains,
    List<String> cgroups,
    List<String> netns,
    Map<String, String> sysctls) {

  static final List<String> SYSCTLS =
      List.of(
          "vm/overcommit_memory",
          "vm/panic_on_oom",
          "kernel/panic",
          "kernel/panic_on_oops",
          "kernel/keys/root_maxkeys",
          "kernel/keys/root_maxbytes",
          "net/ipv4/ip_forward",
          "net/bridge/bridge-nf-call-iptables");

  static HostTraces capture(Path state, String cgroupRoot) throws IOException {
    return new HostTraces(
        readProcesses(state, cgroupRoot),
        readMounts(state),
        readLinks(),
        readChains(),
        readCgroups(cgroupRoot),
        list(Path.of("/run/netns")),
        readSysctls());
  }

  List<String> chainsNamed(String prefix) {
    return chains.stream().filter(c -> c.split(" ")[2].startsWith(prefix)).toList();
  }

  private static List<String> readProcesses(Path state, String cgroupRoot) throws IOException {
    var found = new ArrayList<String>();
    String self = Long.toString(ProcessHandle.current().pid());
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        if (p.getFileName().toString().equals(self)) {
          continue;
        }
        String cmd;
        String cgroup;
        try {
          cmd =
              new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8)
                  .replace('\0', ' ');
          cgroup = Files.readString(p.resolve("cgroup"));
        } catch (IOException e) {
          continue; // gone meanwhile
        }
        if (cmd.contains(state + "/") || cgroup.contains(":" + cgroupRoot + "/")) {
          found.add(p.getFileName() + " " + cmd.strip());
        }
      }
    }
    return found;
  }

  private static List<String> readMounts(Path state) throws IOException {
    return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
        .map(l -> l.split(" ")[4])
        .filter(m -> m.equals(state.toString()) || m.startsWith(state + "/"))
        .toList();
  }

  private static List<String> readLinks() throws IOException {
    return list(Path.of("/sys/class/net"));
  }

  private static List<String> readChains() throws IOException {
    var out = new ArrayList<String>();
    for (String cmd :
        List.of("iptables-nft", "ip6tables-nft", "iptables-legacy", "ip6tables-legacy")) {
      Exec r = Exec.run(Duration.ofSeconds(60), List.of(cmd + "-save"));
      String table = "";
      for (String line : r.out().split("\n")) {
        if (line.startsWith("*")) {
          table = line.substring(1);
        } else if (line.startsWith(":KUBE-") || line.startsWith(":CNI-")) {
          out.add(cmd + " " + table + " " + line.substring(1).split(" ")[0]);
        }
      }
    }
    return out;
  }

  private static List<String> readCgroups(String cgroupRoot) throws IOException {
    var out = new ArrayList<String>();
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      String[] f = line.split(" ");
      String type = f[f.length - 3];
      if (!type.equals("cgroup") && !type.equals("cgroup2")) {
        continue;
      }
      Path dir = Path.of(f[4] + cgroupRoot);
      if (Files.isDirectory(dir)) {
        try (Stream<Path> s = Files.walk(dir)) {
          s.filter(Files::isDirectory).map(Path::toString).forEach(out::add);
        }
      }
    }
    return out;
  }

  private static Map<String, String> readSysctls() throws IOException {
    var m = new TreeMap<String, String>();
    for (String s : SYSCTLS) {
      Path p = Path.of("/proc/sys", s);
      if (Files.exists(p)) {
        m.put(s, Files.readString(p).strip());
      }
    }
    return m;
  }

  private static List<String> list(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }
}
