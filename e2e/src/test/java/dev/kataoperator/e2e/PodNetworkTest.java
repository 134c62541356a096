package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.hypervisor.VmConfig;
import dev.kataoperator.shim.network.IpPrefix;
import dev.kataoperator.shim.network.NetworkException;
import dev.kataoperator.shim.network.PodInterface;
import dev.kataoperator.shim.network.PodNetwork;
import dev.kataoperator.shim.network.PodRoute;
import dev.kataoperator.shim.sandbox.GuestProcess;
import dev.kataoperator.shim.sandbox.Hypervisors;
import dev.kataoperator.shim.sandbox.Sandbox;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pod networking on real parts: two network namespaces made here the way the CNI bridge plugin
 * would (a "node" namespace with a bridge standing in for the host, and a pod namespace with the
 * veth's end as eth0), the shim's tc-filter attach, a real VM on the taps, and TCP both ways.
 * Nothing touches the machine's own network namespace; the addresses are private ones that exist
 * only in these namespaces.
 */
@Tag("vm")
class PodNetworkTest {
  private static final String NODE_IP = "10.213.77.1";
  private static final String POD_IP = "10.213.77.2";
  private static final String NODE_IP6 = "fd00:213:77::1";
  private static final String POD_IP6 = "fd00:213:77::2";
  private static final int MTU = 1400;

  @TempDir Path tmp;

  private final String suffix = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
  private final String nodeNs = "kpn-node-" + suffix;
  private final String podNs = "kpn-pod-" + suffix;
  private final Path podNetns = Path.of("/var/run/netns", podNs);
  private final Path nodeNetns = Path.of("/var/run/netns", nodeNs);

  /** Runs a command; its stdout, or an assertion error with its stderr. */
  private static String sh(String... cmd) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new AssertionError(String.join(" ", cmd) + " failed: " + out);
    }
    return out;
  }

  private String inPod(String... cmd) throws IOException, InterruptedException {
    var all = new ArrayList<>(List.of("nsenter", "--net=" + podNetns, "--"));
    all.addAll(List.of(cmd));
    return sh(all.toArray(String[]::new));
  }

  /** A veth whose pod end is {@code podIf} in the pod namespace, its node end on the bridge. */
  private void addVeth(String nodeIf, String podIf, int mtu) throws Exception {
    sh(
        "ip", "-n", nodeNs, "link", "add", nodeIf, "mtu", "" + mtu, "type", "veth", "peer", "name",
        podIf, "mtu", "" + mtu, "netns", podNs);
    sh("ip", "-n", nodeNs, "link", "set", nodeIf, "master", "cni0", "up");
    sh("ip", "-n", podNs, "link", "set", podIf, "up");
  }

  @BeforeEach
  void namespaces() throws Exception {
    sh("ip", "netns", "add", nodeNs);
    sh("ip", "netns", "add", podNs);
    sh("ip", "-n", nodeNs, "link", "set", "lo", "up");
    sh("ip", "-n", podNs, "link", "set", "lo", "up");
    sh("ip", "-n", nodeNs, "link", "add", "cni0", "mtu", "" + MTU, "type", "bridge");
    sh("ip", "-n", nodeNs, "addr", "add", NODE_IP + "/24", "dev", "cni0");
    sh("ip", "-n", nodeNs, "addr", "add", NODE_IP6 + "/64", "dev", "cni0", "nodad");
    sh("ip", "-n", nodeNs, "link", "set", "cni0", "up");
    addVeth("kpnv" + suffix.substring(0, 6), "eth0", MTU);
    sh("ip", "-n", podNs, "addr", "add", POD_IP + "/24", "dev", "eth0");
    sh("ip", "-n", podNs, "addr", "add", POD_IP6 + "/64", "dev", "eth0", "nodad");
    sh("ip", "-n", podNs, "route", "add", "default", "via", NODE_IP);
    sh("ip", "-n", podNs, "route", "add", "10.214.0.0/16", "via", NODE_IP, "dev", "eth0");
  }

  @AfterEach
  void deleteNamespaces() throws Exception {
    for (String ns : List.of(podNs, nodeNs)) {
      new ProcessBuilder("ip", "netns", "del", ns).start().waitFor();
    }
    String left = sh("ip", "netns", "list");
    assertFalse(left.contains(suffix), "namespaces left: " + left);
    // The node ends of the veths lived in the node namespace: nothing in the host's own.
    assertFalse(sh("ip", "-o", "link").contains("kpn"), "veth left in the host namespace");
  }

  private void assertPodNamespaceClean() throws Exception {
    String links = inPod("ip", "-o", "link", "show");
    assertFalse(links.contains("_kata"), "tap left:\n" + links);
    String qdiscs = inPod("tc", "qdisc", "show");
    assertFalse(qdiscs.contains("ingress"), "ingress qdisc left:\n" + qdiscs);
    for (String dev : List.of("eth0")) {
      assertEquals("", inPod("tc", "filter", "show", "dev", dev, "ingress").strip(), "filters");
    }
  }

  private static long ms(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }

  private static String json(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
  }

  @Test
  void tcpFlowsBothWaysBetweenTheNodeAndAContainerInTheVm() throws Exception {
    // (not /sys/class/net: sysfs follows the mount namespace, which nsenter --net keeps)
    Matcher m =
        Pattern.compile("link/ether (\\S+)")
            .matcher(inPod("ip", "-o", "link", "show", "dev", "eth0"));
    assertTrue(m.find());
    String podMac = m.group(1);

    // The "node" serves a page the guest must fetch.
    Path nodeWww = Files.createDirectories(tmp.resolve("node-www"));
    Files.writeString(nodeWww.resolve("index.html"), "node-says-hi\n");
    Process nodeHttpd =
        new ProcessBuilder(
                "nsenter",
                "--net=" + nodeNetns,
                "--",
                Busybox.BINARY.toString(),
                "httpd",
                "-f",
                "-p",
                NODE_IP + ":9090",
                "-h",
                nodeWww.toString())
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("node-httpd.log").toFile())
            .start();
    Sandbox sb = null;
    PodNetwork net = null;
    try {
      long t = System.nanoTime();
      List<PodInterface> found = PodNetwork.scan(podNetns);
      long scanMs = ms(t);
      assertEquals(1, found.size(), found.toString());
      PodInterface eth0 = found.getFirst();
      assertEquals("eth0", eth0.name());
      assertEquals("veth", eth0.kind());
      assertEquals(podMac, eth0.macAddress());
      assertEquals(MTU, eth0.mtu());
      assertEquals(List.of(new IpPrefix(POD_IP, 24), new IpPrefix(POD_IP6, 64)), eth0.addresses());
      assertEquals(
          List.of(
              new PodRoute("default", NODE_IP, "eth0", false),
              new PodRoute("10.214.0.0/16", NODE_IP, "eth0", false)),
          eth0.routes());

      t = System.nanoTime();
      net = PodNetwork.attach(podNetns, found);
      long attachMs = ms(t);
      assertEquals(List.of(new VmConfig.Nic("net0", "tap0_kata", podMac)), net.nics());
      String tap = inPod("ip", "-d", "link", "show", "tap0_kata");
      assertTrue(tap.contains("mtu " + MTU) && tap.contains("tun type tap"), tap);
      assertTrue(
          inPod("tc", "filter", "show", "dev", "eth0", "ingress")
              .contains("mirred (Egress Redirect to device tap0_kata)"));
      assertTrue(
          inPod("tc", "filter", "show", "dev", "tap0_kata", "ingress")
              .contains("mirred (Egress Redirect to device eth0)"));
      assertTrue(
          inPod("ip", "-o", "addr", "show", "dev", "eth0").contains(POD_IP + "/24"),
          "the veth keeps its address");

      Path guest = Repo.guestDir();
      RuntimeConfig config = RuntimeConfig.load(guest.resolve("kata-qemu.toml"));
      Path rootfs = Busybox.rootfs(tmp.resolve("rootfs"));
      t = System.nanoTime();
      sb =
          Sandbox.boot(
              new Sandbox.Spec(
                  "net-test",
                  tmp.resolve("run"),
                  rootfs,
                  false,
                  0,
                  0,
                  "net-test",
                  Optional.of(podNetns),
                  net.nics()),
              config,
              Hypervisors.forConfig(config),
              HostVirtualization.probe());
      long bootMs = ms(t);
      t = System.nanoTime();
      net.configureGuest(sb.agent());
      long configureMs = ms(t);

      String script =
          String.join(
              "\n",
              "busybox mkdir -p /tmp/www && echo pod-says-hi > /tmp/www/index.html",
              "busybox ip -o link show dev eth0",
              "busybox ip -o addr show dev eth0",
              "busybox ip route",
              "echo \"FROM-NODE: $(busybox wget -q -O - http://" + NODE_IP + ":9090/)\"",
              "echo READY",
              "exec busybox httpd -f -p 8080 -h /tmp/www");
      String spec =
          """
          {"ociVersion":"1.1.0","process":{"args":["sh","-c",%s],"cwd":"/","user":{"uid":0,"gid":0},
           "env":["PATH=/bin"]},"root":{"path":"rootfs"},
           "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                    {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}],
           "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}
          """
              .formatted(json(script));
      sb.createContainer(
          CreateContainerRequest.newBuilder()
              .setContainerId("web")
              .setOciSpecJson(ByteString.copyFromUtf8(spec))
              .setRootfsPath(Sandbox.GUEST_SHARED_DIR)
              .build());
      var out = new ByteArrayOutputStream();
      var web = new GuestProcess(sb.agent(), "web", "");
      web.pumpStdout(out);
      web.pumpStderr(out);
      sb.agent().startContainer("web");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (!out.toString(StandardCharsets.UTF_8).contains("READY")
          && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      String guestOut = out.toString(StandardCharsets.UTF_8);
      assertTrue(guestOut.contains("READY"), "container output:\n" + guestOut);
      // Guest -> node over TCP, through tap0_kata -> eth0 -> the bridge.
      assertTrue(guestOut.contains("FROM-NODE: node-says-hi"), guestOut);
      // The agent found the NIC by the veth's MAC, named it, set MTU, addresses and routes.
      assertTrue(guestOut.contains("mtu " + MTU) && guestOut.contains(podMac), guestOut);
      assertTrue(guestOut.contains("inet " + POD_IP + "/24"), guestOut);
      assertTrue(guestOut.contains("inet6 " + POD_IP6 + "/64"), guestOut);
      assertTrue(guestOut.contains("default via " + NODE_IP + " dev eth0"), guestOut);
      assertTrue(guestOut.contains("10.214.0.0/16 via " + NODE_IP + " dev eth0"), guestOut);

      // Node -> pod IP over TCP: only the guest listens on 8080 (the pod namespace does not).
      t = System.nanoTime();
      String page = fetchFromNode("http://" + POD_IP + ":8080/");
      long firstFetchMs = ms(t);
      assertEquals("pod-says-hi\n", page);
      t = System.nanoTime();
      for (int i = 0; i < 5; i++) {
        assertEquals("pod-says-hi\n", fetchFromNode("http://" + POD_IP + ":8080/"));
      }
      long perFetchMs = ms(t) / 5;
      // And over IPv6 (the guest's address may still be in DAD for a moment).
      assertEquals("pod-says-hi\n", fetchFromNode("http://[" + POD_IP6 + "]:8080/"));

      System.out.printf(
          "pod network: scan %d ms, attach %d ms, boot %d ms, configure guest %d ms,"
              + " first node->pod fetch %d ms, then %d ms per fetch (TCG)%n",
          scanMs, attachMs, bootMs, configureMs, firstFetchMs, perFetchMs);

      long pid = sb.vm().pids().getFirst();
      sb.close();
      sb = null;
      t = System.nanoTime();
      net.detach();
      long detachMs = ms(t);
      net.detach(); // idempotent
      PodNetwork.detachAll(podNetns); // finds nothing of ours
      System.out.printf("pod network: detach %d ms%n", detachMs);

      assertPodNamespaceClean();
      assertTrue(
          inPod("ip", "-o", "addr", "show", "dev", "eth0").contains(POD_IP + "/24"),
          "the veth is CNI's: left as it was");
      assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "QEMU gone");
      assertEquals(List.of(), Leaks.processes(tmp.toString()), "VM processes left");
    } finally {
      if (sb != null) {
        sb.close();
      }
      if (net != null) {
        net.detach();
      }
      nodeHttpd.destroyForcibly().waitFor();
    }
  }

  /** GETs a URL from the node namespace, retrying for a few seconds while the server comes up. */
  private String fetchFromNode(String url) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (true) {
      // (busybox 1.35's static wget crashes with -T, so the time limit is ours)
      Process p =
          new ProcessBuilder(
                  "nsenter",
                  "--net=" + nodeNetns,
                  "--",
                  Busybox.BINARY.toString(),
                  "wget",
                  "-q",
                  "-O",
                  "-",
                  url)
              .redirectError(ProcessBuilder.Redirect.DISCARD)
              .start();
      var body = new CompletableFuture<String>();
      Thread.ofVirtual()
          .start(
              () -> {
                try {
                  body.complete(
                      new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
                } catch (IOException e) {
                  body.completeExceptionally(e);
                }
              });
      boolean done = p.waitFor(5, TimeUnit.SECONDS);
      if (!done) {
        p.destroyForcibly().waitFor();
      } else if (p.exitValue() == 0) {
        return body.get(5, TimeUnit.SECONDS);
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "GET " + url + " from the node namespace failed" + (done ? "" : " (timed out)"));
      }
      Thread.sleep(200);
    }
  }

  @Test
  void failedAttachRollsBackEverything() throws Exception {
    // A second interface whose MTU a tap cannot take (tap max 65521): its tap is created, then
    // setting the MTU fails, after eth0 was fully connected.
    addVeth("kpnw" + suffix.substring(0, 6), "net1", 65535);
    sh("ip", "-n", podNs, "addr", "add", "10.213.78.2/24", "dev", "net1");
    List<PodInterface> found = PodNetwork.scan(podNetns);
    assertEquals(List.of("eth0", "net1"), found.stream().map(PodInterface::name).toList());
    var e = assertThrows(NetworkException.class, () -> PodNetwork.attach(podNetns, found));
    assertEquals(NetworkException.Reason.COMMAND_FAILED, e.reason());
    assertTrue(
        e.getMessage().startsWith("`ip link set dev tap1_kata mtu 65535 up` in "), e.getMessage());
    assertEquals(0, e.getSuppressed().length, "rollback succeeded");
    assertPodNamespaceClean();
    assertEquals("", inPod("tc", "filter", "show", "dev", "net1", "ingress").strip());
  }

  @Test
  void secondAttachIsBusyAndDetachAllCleansWithoutState() throws Exception {
    PodNetwork first = PodNetwork.attach(podNetns);
    assertEquals(1, first.endpoints().size());
    var e = assertThrows(NetworkException.class, () -> PodNetwork.attach(podNetns));
    assertEquals(NetworkException.Reason.BUSY, e.reason());
    assertTrue(
        e.getMessage().startsWith("tap0_kata already exists in " + podNetns), e.getMessage());
    // The refused attach changed nothing: the first one's redirects are intact.
    assertTrue(
        inPod("tc", "filter", "show", "dev", "eth0", "ingress").contains("tap0_kata"),
        "first attach intact");
    // As after a shim crash: no PodNetwork object, only the namespace path.
    PodNetwork.detachAll(podNetns);
    assertPodNamespaceClean();
    first.detach(); // and the old handle finds nothing left to do
    PodNetwork.detachAll(podNetns);
  }

  @Test
  void missingNamespaceIsReportedAndDetachOfAGoneNamespaceIsANoOp() throws Exception {
    Path gone = Path.of("/var/run/netns/kpn-missing-" + suffix);
    var e = assertThrows(NetworkException.class, () -> PodNetwork.scan(gone));
    assertEquals(NetworkException.Reason.NETNS_UNAVAILABLE, e.reason());
    assertEquals("network namespace " + gone + " does not exist", e.getMessage());
    Path notNs = Files.writeString(tmp.resolve("not-a-netns"), "");
    e = assertThrows(NetworkException.class, () -> PodNetwork.scan(notNs));
    assertEquals(NetworkException.Reason.NETNS_UNAVAILABLE, e.reason());
    assertTrue(
        e.getMessage().startsWith("cannot enter network namespace " + notNs), e.getMessage());
    PodNetwork.detachAll(notNs); // a path that outlived its namespace: nothing to remove

    PodNetwork net = PodNetwork.attach(podNetns);
    sh("ip", "netns", "del", podNs); // CNI DEL and netns removal before the shim's teardown
    net.detach();
    PodNetwork.detachAll(podNetns);
  }
}
