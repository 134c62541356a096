package dev.kataoperator.installer;

import static dev.kataoperator.contract.InstallerContract.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.InstallerContract.NodeReport;
import dev.kataoperator.contract.InstallerContract.RuntimeState;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.installer.cri.CriClient;
import dev.kataoperator.installer.cri.CriView;
import dev.kataoperator.installer.flow.Settings;
import dev.kataoperator.installer.node.NodeReportException;
import dev.kataoperator.installer.node.NodeReporter;
import dev.kataoperator.installer.node.NodeUpdates;
import dev.kataoperator.testsupport.Containerd;
import dev.kataoperator.testsupport.Containerd.RestartFault;
import dev.kataoperator.testsupport.Containerd.Version;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.apps.DaemonSetBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole node flow, with real parts: the installer in its own JVM as the DaemonSet runs it,
 * configured by the contract's environment; a real containerd (1.6 and 2.2) on a private config,
 * root, state and socket, restarted by the {@code command} restart method (the harness's restart
 * script, run through nsenter like on a node); the real payload built by the payload scripts; a
 * real kube-apiserver with the operator's RBAC and admission policy, the installer using an
 * installer pod's bound token. "The host" is this machine with every path under a temp dir.
 */
class NodeFlowTest {
  static final String VERSION_1 = "0.0.0-flow.1";
  static final String VERSION_2 = "0.0.0-flow.2";
  static final String HASH = "hash-flow";
  static final String IMAGE = "registry.test/kata/installer:flow";
  static final Duration READY_TIMEOUT = Duration.ofMinutes(5);

  static Path shared;
  static Path image1;
  static KubeApi api;
  static Path kubeconfig;

  @TempDir Path tmp;

  Containerd containerd;
  Path config;
  String original;
  final List<String[]> nodeEvents = new CopyOnWriteArrayList<>();
  Thread recorder;
  final List<InstallerProcess> installers = new ArrayList<>();
  int runs;

  // --- fixture ------------------------------------------------------------------------------

  @BeforeAll
  static void payloadAndApiServer() throws Exception {
    shared = Files.createTempDirectory("kata-flow");
    image1 = buildPayload(shared.resolve("image1"), VERSION_1);
    api = KubeApi.start();
    kubeconfig = api.installerKubeconfig(shared);
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (api != null) {
      api.close();
    }
    if (shared != null) {
      deleteTree(shared);
    }
  }

  /** The node payload as the image ships it: build-payload.sh, then make-manifest.sh. */
  static Path buildPayload(Path out, String version) throws Exception {
    Path root = Containerd.repoRoot();
    Path guest = Containerd.guestDir();
    Path virtiofsd = root.resolve("build/virtiofsd/virtiofsd");
    if (!Files.exists(guest.resolve("vmlinux")) || !Files.exists(virtiofsd)) {
      throw new IllegalStateException(
          "no guest or virtiofsd built ("
              + guest
              + ", "
              + virtiofsd
              + "); run 'make guest virtiofsd'");
    }
    var r =
        Containerd.run(
            List.of(
                "bash",
                root.resolve("shim/payload/build-payload.sh").toString(),
                out.toString(),
                version,
                guest.toString(),
                virtiofsd.toString()),
            Map.of("JAVA_HOME", System.getProperty("java.home")),
            null,
            600);
    assertEquals(0, r.exit(), "build-payload.sh: " + r);
    var m =
        Containerd.run(
            List.of(
                "sh",
                root.resolve("runtime-node-installer/image/make-manifest.sh").toString(),
                out.toString()),
            null,
            300);
    assertEquals(0, m.exit(), "make-manifest.sh: " + m);
    return out;
  }

  @BeforeEach
  void cleanNodeAndRecordIt() throws Exception {
    cleanNode();
    daemonSet(true);
    startRecorder();
  }

  /** No contract label or annotation on the node (what the operator's cleanup leaves). */
  static void cleanNode() {
    api.admin()
        .nodes()
        .withName(KubeApi.NODE)
        .edit(
            n -> {
              n.getMetadata().getLabels().keySet().removeIf(k -> k.startsWith(PREFIX));
              n.getMetadata().getAnnotations().keySet().removeIf(k -> k.startsWith(PREFIX));
              return n;
            });
  }

  void startRecorder() {
    // Every version of the Node, as the operator's informer would see them. Polled: fabric8's
    // watch over the JDK client's WebSocket gets nothing from this API server.
    recorder =
        Thread.ofPlatform()
            .daemon()
            .start(
                () -> {
                  String last = "";
                  while (!Thread.currentThread().isInterrupted()) {
                    try {
                      Node n = api.admin().nodes().withName(KubeApi.NODE).get();
                      if (!n.getMetadata().getResourceVersion().equals(last)) {
                        last = n.getMetadata().getResourceVersion();
                        NodeReport r =
                            NodeReport.parse(
                                n.getMetadata().getLabels(), n.getMetadata().getAnnotations());
                        nodeEvents.add(
                            new String[] {
                              r.state().map(Enum::name).orElse("-"),
                              String.join(",", r.runtimeClasses()),
                              r.payloadVersion().orElse(""),
                              r.configHash().orElse("")
                            });
                      }
                      Thread.sleep(25);
                    } catch (InterruptedException e) {
                      return;
                    } catch (RuntimeException e) {
                      // the API server is busy: the next poll sees the same versions
                    }
                  }
                });
  }

  @AfterEach
  void stopEverything() {
    installers.forEach(InstallerProcess::close);
    if (recorder != null) {
      recorder.interrupt();
    }
    if (containerd != null) {
      containerd.close();
    }
  }

  /** The installer's DaemonSet, selecting Linux nodes (as the operator renders it), or none. */
  static void daemonSet(boolean present) {
    var ds =
        api.admin()
            .apps()
            .daemonSets()
            .inNamespace(KubeApi.NAMESPACE)
            .withName("runtime-node-installer");
    if (!present) {
      ds.delete();
      return;
    }
    if (ds.get() != null) {
      return;
    }
    api.admin()
        .apps()
        .daemonSets()
        .inNamespace(KubeApi.NAMESPACE)
        .resource(
            new DaemonSetBuilder()
                .withNewMetadata()
                .withName("runtime-node-installer")
                .endMetadata()
                .withNewSpec()
                .withNewSelector()
                .addToMatchLabels("app.kubernetes.io/name", "runtime-node-installer")
                .endSelector()
                .withNewTemplate()
                .withNewMetadata()
                .addToLabels("app.kubernetes.io/name", "runtime-node-installer")
                .endMetadata()
                .withNewSpec()
                .withNewAffinity()
                .withNewNodeAffinity()
                .withNewRequiredDuringSchedulingIgnoredDuringExecution()
                .addNewNodeSelectorTerm()
                .addNewMatchExpression()
                .withKey("kubernetes.io/os")
                .withOperator("In")
                .withValues("linux")
                .endMatchExpression()
                .endNodeSelectorTerm()
                .endRequiredDuringSchedulingIgnoredDuringExecution()
                .endNodeAffinity()
                .endAffinity()
                .addNewContainer()
                .withName("installer")
                .withImage(IMAGE)
                .endContainer()
                .endSpec()
                .endTemplate()
                .endSpec()
                .build())
        .create();
  }

  /** This node's containerd: its own config (v2 on 1.6, v3 on 2.2), restartable by command. */
  void startContainerd(Version v) throws Exception {
    assumeTrue(v.installed() && Files.isExecutable(Containerd.CRICTL), v + " missing");
    Path dir = tmp.resolve("c");
    config = tmp.resolve("etc/containerd/config.toml");
    Files.createDirectories(config.getParent());
    int schema = v == Version.V1_6 ? 2 : 3;
    String cri = schema == 3 ? "io.containerd.cri.v1.runtime" : "io.containerd.grpc.v1.cri";
    original =
        "# this node's containerd config: every byte must come back\nversion = "
            + schema
            + "\ndisabled_plugins = [\"io.containerd.snapshotter.v1.btrfs\","
            + " \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\","
            + " \"io.containerd.snapshotter.v1.aufs\", \"io.containerd.nri.v1.nri\"]\n\n"
            + "[grpc]\n  address = \""
            + dir.resolve("containerd.sock")
            + "\"\n\n[plugins]\n  [plugins.\"io.containerd.internal.v1.opt\"]\n    path = \""
            + tmp.resolve("opt-plugin")
            + "\"\n  [plugins.\""
            + cri
            + "\"]\n    max_container_log_line_size = 4242  # ours\n";
    Files.writeString(config, original);
    containerd =
        Containerd.builder(v, dir)
            .config(config)
            .requireCri(true)
            .supervised(true)
            .shimDir(prefix().resolve(PayloadLayout.BIN_DIR))
            .start();
  }

  Path prefix() {
    return tmp.resolve("opt/kata");
  }

  Path ready() {
    return tmp.resolve("ready");
  }

  Map<String, String> env(String classes) {
    Map<String, String> e = new LinkedHashMap<>();
    e.put(ENV_NODE_NAME, KubeApi.NODE);
    e.put(ENV_NAMESPACE, KubeApi.NAMESPACE);
    e.put(ENV_DAEMONSET, "runtime-node-installer");
    e.put(ENV_CONFIG_NAME, "cluster");
    e.put(ENV_CONFIG_HASH, HASH);
    e.put(ENV_INSTALLER_IMAGE, IMAGE);
    e.put(ENV_RUNTIME_CLASSES, classes);
    e.put(ENV_VIRTUALIZATION_POLICY, "AllowSoftwareEmulation");
    e.put(ENV_CONTAINERD_FLAVOR, "containerd");
    e.put(ENV_CONTAINERD_CONFIG, config.toString());
    e.put(ENV_CONTAINERD_RESTART, "command");
    e.put(ENV_CONTAINERD_RESTART_COMMAND, String.join("\n", containerd.restartCommand()));
    e.put(ENV_LOG_LEVEL, "info");
    e.put(ENV_HOST_ROOT, "/");
    e.put(Settings.ENV_PREFIX, prefix().toString());
    e.put(Settings.ENV_PAYLOAD, image1.toString());
    e.put(Settings.ENV_READY_FILE, ready().toString());
    e.put(Settings.ENV_HOST_PID, Long.toString(ProcessHandle.current().pid()));
    e.put(Settings.ENV_VERIFY_TIMEOUT, "60");
    e.put("KUBECONFIG", kubeconfig.toString());
    return e;
  }

  InstallerProcess start(String mode, Map<String, String> env) throws Exception {
    // A new pod gets a new emptyDir: no ready file from the last run.
    Files.deleteIfExists(ready());
    var p = InstallerProcess.start(mode, env, tmp.resolve("installer-" + (++runs) + ".log"));
    installers.add(p);
    return p;
  }

  /** Runs the installer until it is ready, then stops it with SIGTERM (as a rolling update). */
  void runToReady(String mode, Map<String, String> env) throws Exception {
    var p = start(mode, env);
    long t0 = System.nanoTime();
    assertTrue(p.awaitReady(ready(), READY_TIMEOUT), "exited before ready:\n" + p.log());
    System.err.printf("%s ready in %.1f s%n", mode, (System.nanoTime() - t0) / 1e9);
    p.log().lines().filter(l -> l.contains(" step ")).forEach(System.err::println);
    assertEquals(143, p.stop(), p.log());
  }

  /** Runs the installer, which must fail; returns its log. */
  String runToFailure(Map<String, String> env) throws Exception {
    var p = start("install", env);
    int rc = p.awaitExit(READY_TIMEOUT);
    assertEquals(1, rc, p.log());
    assertFalse(Files.exists(ready()), "a failed node is not ready");
    return p.log();
  }

  // --- what the node must look like -----------------------------------------------------------

  String expectedAccel() {
    return HostVirtualization.probe().kvmUsable() ? "kvm" : "tcg";
  }

  CriView cri() throws Exception {
    try (CriClient c = CriClient.open(containerd.socket())) {
      return CriView.of(c.status(Duration.ofSeconds(60)));
    }
  }

  NodeReport node() {
    var n = api.admin().nodes().withName(KubeApi.NODE).get();
    return NodeReport.parse(n.getMetadata().getLabels(), n.getMetadata().getAnnotations());
  }

  void assertInstalled(String version, Set<String> classes) throws Exception {
    CriView v = cri();
    for (String c : classes) {
      CriView.Handler h = v.handlers().get(c);
      assertTrue(h != null, c + " not served: " + v.handlers().keySet() + "\n" + containerd.log());
      assertEquals(PayloadLayout.runtimeType(c), h.runtimeType());
      assertEquals(PayloadLayout.shimPath(prefix(), c).toString(), h.runtimePath());
      assertEquals(Optional.of(PayloadLayout.configPath(prefix(), c).toString()), h.configPath());
      assertEquals(
          Path.of("../current/bin/" + PayloadLayout.QEMU_LAUNCHER),
          Files.readSymbolicLink(PayloadLayout.shimPath(prefix(), c)));
      String shimConfig = Files.readString(PayloadLayout.configPath(prefix(), c));
      assertTrue(shimConfig.contains("accel = \"" + expectedAccel() + "\""), shimConfig);
    }
    assertEquals("io.containerd.runc.v2", v.handlers().get("runc").runtimeType());
    assertEquals(Path.of("versions", version), Files.readSymbolicLink(prefix().resolve("current")));
    assertTrue(
        Files.isRegularFile(prefix().resolve("current/lib").resolve(PayloadLayout.AOT_CACHE)),
        "the AOT cache was made and kept");
    NodeReport r = node();
    assertEquals(Optional.of(RuntimeState.installed), r.state(), r.toString());
    assertEquals(classes, r.runtimeClasses());
    assertEquals(Optional.of(HostVirtualization.probe().kind()), r.virtualization());
    assertEquals(Set.of("qemu"), r.hypervisors());
    assertEquals(Optional.of(version), r.payloadVersion());
    assertTrue(r.isFor(HASH));
    assertEquals(Optional.of(IMAGE), r.installerImage());
    assertNoLeftovers();
  }

  void assertUninstalled() throws Exception {
    assertEquals(original, Files.readString(config), "the config is byte for byte the original");
    try (Stream<Path> s = Files.list(config.getParent())) {
      assertEquals(List.of(config), s.toList(), "no drop-in, backup or temp file");
    }
    CriView v = cri();
    assertEquals(Set.of("runc"), v.handlers().keySet(), containerd.log());
    assertFalse(Files.exists(prefix(), LinkOption.NOFOLLOW_LINKS), "the payload prefix is gone");
    NodeReport r = node();
    assertEquals(Optional.of(RuntimeState.uninstalled), r.state());
    assertEquals(Set.of(), r.runtimeClasses());
    assertEquals(Optional.empty(), r.virtualization());
    assertEquals(Optional.empty(), r.payloadVersion());
  }

  void assertNoLeftovers() throws Exception {
    for (Path root : List.of(prefix(), config.getParent())) {
      try (Stream<Path> s = Files.walk(root)) {
        List<Path> tmpFiles =
            s.filter(
                    p -> {
                      String n = p.getFileName().toString();
                      return n.contains(".kata-tmp-")
                          || n.contains(".kata-old-")
                          || n.endsWith(".kata-operator.tmp");
                    })
                .toList();
        assertEquals(List.of(), tmpFiles);
      }
    }
  }

  /** The states the node went through (repeats folded), and the contract's ordering rules. */
  List<String> statesSeen() throws InterruptedException {
    String now = node().state().map(Enum::name).orElse("-");
    long deadline = System.nanoTime() + 10_000_000_000L;
    while ((nodeEvents.isEmpty() || !nodeEvents.getLast()[0].equals(now))
        && System.nanoTime() < deadline) {
      Thread.sleep(25);
    }
    List<String> states = new ArrayList<>();
    boolean everInstalled = false;
    for (String[] e : nodeEvents) {
      String state = e[0];
      boolean hasClasses = !e[1].isEmpty();
      if (state.equals("uninstalling") || state.equals("uninstalled")) {
        assertFalse(hasClasses, "a class label while " + state);
      }
      if (hasClasses && !everInstalled) {
        assertEquals("installed", state, "a class label appears only once it works");
        assertFalse(e[2].isEmpty(), "with its payload version");
      }
      everInstalled |= state.equals("installed");
      if (!state.equals("-")) {
        assertEquals(HASH, e[3], "every state with the hash it acted on");
      }
      if (!state.equals("-") && (states.isEmpty() || !states.getLast().equals(state))) {
        states.add(state);
      }
    }
    return states;
  }

  // --- the flows ----------------------------------------------------------------------------

  /**
   * containerd 1.6: install, a pod in a VM through the installed payload, a rolling-update style
   * stop that leaves the node installed, a rerun that touches nothing, then the DaemonSet goes and
   * the stopping installer reverts the node: the config is back byte for byte, /opt/kata is gone.
   */
  @Test
  void containerd16InstallRunsAVmAndAStopWithoutTheDaemonSetReverts() throws Exception {
    startContainerd(Version.V1_6);
    runToReady("install", env("kata-qemu=qemu"));
    assertInstalled(VERSION_1, Set.of("kata-qemu"));
    assertTrue(Files.readString(config).contains("# BEGIN kata-operator runtime handlers"));
    bootAVm();

    // A rerun of the same settings (a restarted pod) changes no file.
    var before = stat(prefix());
    String configBefore = Files.readString(config);
    long pid = containerd.pid();
    runToReady("install", env("kata-qemu=qemu"));
    assertEquals(before, stat(prefix()), "nothing under the prefix changed, not even a time");
    assertEquals(configBefore, Files.readString(config));
    assertEquals(pid, containerd.pid(), "no restart when nothing changed");
    assertInstalled(VERSION_1, Set.of("kata-qemu"));

    daemonSet(false);
    var p = start("install", env("kata-qemu=qemu"));
    assertTrue(p.awaitReady(ready(), READY_TIMEOUT), p.log());
    assertEquals(143, p.stop(), p.log());
    assertTrue(p.log().contains("the installer's DaemonSet is gone: reverting"), p.log());
    assertUninstalled();
    assertEquals(
        List.of(
            "installing",
            "installed",
            "installing",
            "installed",
            "installing",
            "installed",
            "uninstalling",
            "uninstalled"),
        statesSeen());
  }

  /** containerd 2.2: the same through a drop-in, and the operator's uninstall mode. */
  @Test
  void containerd22InstallRunsAVmAndUninstallRestoresEveryByte() throws Exception {
    startContainerd(Version.V2_2);
    runToReady("install", env("kata-qemu=qemu"));
    assertInstalled(VERSION_1, Set.of("kata-qemu"));
    assertTrue(Files.exists(config.resolveSibling("kata-operator.toml")), "2.x: a drop-in");
    bootAVm();
    runToReady("uninstall", env("kata-qemu=qemu"));
    assertUninstalled();
    assertEquals(List.of("installing", "installed", "uninstalling", "uninstalled"), statesSeen());
  }

  void bootAVm() throws Exception {
    Path images = Containerd.repoRoot().resolve("build/images");
    var b =
        Containerd.run(
            List.of(
                "bash",
                Containerd.repoRoot().resolve("e2e/images/build-busybox.sh").toString(),
                images.toString()),
            null,
            300);
    assertEquals(0, b.exit(), b.toString());
    var imported = containerd.ctr("images", "import", images.resolve("busybox.tar").toString());
    assertEquals(0, imported.exit(), imported.toString());
    var run =
        containerd.ctr(
            "run",
            "--rm",
            "--runtime",
            PayloadLayout.runtimeType("kata-qemu"),
            "docker.io/library/busybox:latest",
            "vm-" + runs,
            "uname",
            "-r");
    String release = Files.readString(Containerd.guestDir().resolve("kernel.release")).strip();
    assertEquals(0, run.exit(), run + "\n" + containerd.log());
    assertEquals(release, run.out().strip(), "the guest's kernel, not the host's");
  }

  // --- crashes ------------------------------------------------------------------------------

  static final List<String> INSTALL_POINTS =
      List.of(
          "install:check",
          "install:report-installing",
          "payload:built",
          "payload:in-place",
          "payload:switched",
          "install:containerd-config",
          "install:restart",
          "install:verify",
          "install:cleanup",
          "install:report-installed");

  static final List<String> UNINSTALL_POINTS =
      List.of(
          "uninstall:check",
          "uninstall:report-uninstalling",
          "uninstall:containerd-config",
          "uninstall:restart",
          "uninstall:verify",
          "payload:launchers-removed",
          "uninstall:payload",
          "uninstall:report-uninstalled");

  /**
   * Killed with SIGKILL after any step of an install, the next install converges. The points in the
   * payload step start from a clean node each; the later ones keep the payload (it is what a rerun
   * finds) and start from the original config.
   */
  @Test
  void killedAnywhereInAnInstallTheNextRunConverges() throws Exception {
    startContainerd(Version.V2_2);
    for (String point : INSTALL_POINTS) {
      boolean payloadPoint = point.startsWith("payload:");
      resetToOriginal(payloadPoint);
      var env = env("kata-qemu=qemu");
      env.put(Settings.ENV_KILL_AT, point);
      var killed = start("install", env);
      assertEquals(137, killed.awaitExit(READY_TIMEOUT), point + ":\n" + killed.log());
      assertTrue(killed.log().contains("test hook: SIGKILL at " + point), killed.log());
      runToReady("install", env("kata-qemu=qemu"));
      assertInstalled(VERSION_1, Set.of("kata-qemu"));
    }
  }

  /**
   * Killed with SIGKILL after any step of an uninstall, the next uninstall converges. Each point
   * starts from the same installed node, put back by the test.
   */
  @Test
  void killedAnywhereInAnUninstallTheNextRunConverges() throws Exception {
    startContainerd(Version.V1_6);
    runToReady("install", env("kata-qemu=qemu"));
    Path saved = tmp.resolve("installed-prefix");
    // Hard links: the installer never writes a payload file in place, it renames and unlinks.
    var r = Containerd.run(List.of("cp", "-al", prefix().toString(), saved.toString()), null, 300);
    assertEquals(0, r.exit(), r.toString());
    Map<Path, byte[]> installedConfig = configFiles();
    for (String point : UNINSTALL_POINTS) {
      deleteTree(prefix());
      var copy =
          Containerd.run(List.of("cp", "-al", saved.toString(), prefix().toString()), null, 300);
      assertEquals(0, copy.exit(), copy.toString());
      putConfigFiles(installedConfig);
      containerd.restart();
      containerd.awaitServing(Duration.ofSeconds(60), true);
      assertInstalledFiles(Set.of("kata-qemu"));
      var env = env("kata-qemu=qemu");
      env.put(Settings.ENV_KILL_AT, point);
      var killed = start("uninstall", env);
      assertEquals(137, killed.awaitExit(READY_TIMEOUT), point + ":\n" + killed.log());
      assertTrue(killed.log().contains("test hook: SIGKILL at " + point), killed.log());
      runToReady("uninstall", env("kata-qemu=qemu"));
      assertUninstalled();
    }
  }

  /** The node as it was before any install: original config, no payload (or kept), no labels. */
  void resetToOriginal(boolean dropPayload) throws Exception {
    if (dropPayload && Files.exists(prefix())) {
      deleteTree(prefix());
    }
    putConfigFiles(Map.of(config, original.getBytes()));
    containerd.restart();
    containerd.awaitServing(Duration.ofSeconds(60), true);
    cleanNode();
  }

  Map<Path, byte[]> configFiles() throws Exception {
    Map<Path, byte[]> m = new TreeMap<>();
    try (Stream<Path> s = Files.list(config.getParent())) {
      for (Path p : s.toList()) {
        m.put(p, Files.readAllBytes(p));
      }
    }
    return m;
  }

  void putConfigFiles(Map<Path, byte[]> files) throws Exception {
    try (Stream<Path> s = Files.list(config.getParent())) {
      for (Path p : s.toList()) {
        Files.delete(p);
      }
    }
    for (var e : files.entrySet()) {
      Files.write(e.getKey(), e.getValue());
    }
  }

  /** The installed files and what containerd serves, without the node's labels. */
  void assertInstalledFiles(Set<String> classes) throws Exception {
    CriView v = cri();
    for (String c : classes) {
      assertTrue(v.handlers().containsKey(c), c + " not served: " + v.handlers().keySet());
      assertTrue(Files.isExecutable(PayloadLayout.shimPath(prefix(), c)));
    }
  }

  // --- rollback -----------------------------------------------------------------------------

  /**
   * A restart that leaves containerd without the handler (one that does nothing, one that fails,
   * one that leaves containerd down): the previous config comes back, containerd is restarted again
   * and serves it, the node says failed and why, and the installer exits non-zero so the
   * DaemonSet's rollout stops there.
   */
  @Test
  void aRestartThatDoesNotServeTheHandlerIsRolledBack() throws Exception {
    startContainerd(Version.V2_2);
    for (RestartFault fault : RestartFault.values()) {
      long pid = containerd.pid();
      containerd.breakNextRestart(fault);
      var env = env("kata-qemu=qemu");
      env.put(Settings.ENV_VERIFY_TIMEOUT, "8");
      String log = runToFailure(env);
      assertEquals(original, Files.readString(config), log);
      assertTrue(
          Files.notExists(config.resolveSibling("kata-operator.toml")), "the drop-in is gone too");
      assertEquals(Set.of("runc"), cri().handlers().keySet(), "containerd serves the old config");
      assertTrue(containerd.pid() != pid, fault + ": and was restarted to load it");
      NodeReport r = node();
      assertEquals(Optional.of(RuntimeState.failed), r.state());
      assertEquals(Set.of(), r.runtimeClasses());
      String message = r.message().orElseThrow();
      assertTrue(
          message.contains("the previous containerd config is back and containerd serves it"),
          message);
      String why =
          switch (fault) {
            case NOOP -> "the restart did not replace it";
            case FAIL -> "restart refused (test fault)";
            case DOWN -> "containerd does not answer";
          };
      assertTrue(message.contains(why), fault + ": " + message);
    }
    assertEquals(
        List.of("installing", "failed", "installing", "failed", "installing", "failed"),
        statesSeen());
  }

  /**
   * An upgrade (new payload, one more class) that containerd does not take: the previous payload
   * version is current again and the new one gone, the previous config is back and served, and the
   * class that worked before keeps its label.
   */
  @Test
  void aFailedUpgradeGoesBackToThePreviousPayloadAndConfig() throws Exception {
    startContainerd(Version.V1_6);
    runToReady("install", env("kata-qemu=qemu"));
    String installedConfig = Files.readString(config);
    Path image2 = shared.resolve("image2");
    if (!Files.exists(image2)) {
      copyVersion(image1, VERSION_1, image2, VERSION_2);
    }
    containerd.breakNextRestart(RestartFault.NOOP);
    var env = env("kata-qemu=qemu,kata-qemu-b=qemu");
    env.put(Settings.ENV_PAYLOAD, image2.toString());
    env.put(Settings.ENV_VERIFY_TIMEOUT, "8");
    String log = runToFailure(env);
    assertEquals(installedConfig, Files.readString(config), log);
    assertEquals(
        Path.of("versions", VERSION_1), Files.readSymbolicLink(prefix().resolve("current")));
    assertFalse(Files.exists(prefix().resolve("versions").resolve(VERSION_2)), "the new one gone");
    assertFalse(
        Files.exists(PayloadLayout.shimPath(prefix(), "kata-qemu-b"), LinkOption.NOFOLLOW_LINKS));
    CriView v = cri();
    assertTrue(v.handlers().containsKey("kata-qemu") && !v.handlers().containsKey("kata-qemu-b"));
    NodeReport r = node();
    assertEquals(Optional.of(RuntimeState.failed), r.state());
    assertEquals(Set.of("kata-qemu"), r.runtimeClasses(), "the old class still works");
    assertTrue(r.message().orElseThrow().contains("payload " + VERSION_1), r.message().toString());
  }

  /** A second payload version: the first one's tree under another name, with its own manifest. */
  static void copyVersion(Path from, String v1, Path to, String v2) throws Exception {
    Path dst = to.resolve("versions").resolve(v2);
    Files.createDirectories(dst.getParent());
    var r =
        Containerd.run(
            List.of("cp", "-a", from.resolve("versions").resolve(v1).toString(), dst.toString()),
            null,
            300);
    assertEquals(0, r.exit(), r.toString());
    Files.writeString(dst.resolve(PayloadLayout.VERSION_FILE), v2 + "\n");
    Files.createSymbolicLink(to.resolve("current"), Path.of("versions", v2));
    var m =
        Containerd.run(
            List.of(
                "sh",
                Containerd.repoRoot()
                    .resolve("runtime-node-installer/image/make-manifest.sh")
                    .toString(),
                to.toString()),
            null,
            300);
    assertEquals(0, m.exit(), m.toString());
  }

  // --- the API --------------------------------------------------------------------------------

  /** The installer's pod-bound token patches its own Node and is refused on another. */
  @Test
  void theInstallersTokenReachesOnlyItsOwnNode() throws Exception {
    var client =
        new KubernetesClientBuilder()
            .withConfig(Config.fromKubeconfig(Files.readString(kubeconfig)))
            .build();
    var updates = new NodeUpdates(HASH, IMAGE);
    try (var own = new NodeReporter(client, KubeApi.NODE, Duration.ofSeconds(30))) {
      own.apply(updates.uninstalling(Set.of(), "probe"));
      assertEquals(Optional.of(RuntimeState.uninstalling), node().state());
      assertEquals(
          "someone else",
          api.admin()
              .nodes()
              .withName(KubeApi.NODE)
              .get()
              .getMetadata()
              .getAnnotations()
              .get("example.com/owner"));
    }
    var client2 =
        new KubernetesClientBuilder()
            .withConfig(Config.fromKubeconfig(Files.readString(kubeconfig)))
            .build();
    try (var other = new NodeReporter(client2, KubeApi.OTHER_NODE, Duration.ofSeconds(30))) {
      var e =
          org.junit.jupiter.api.Assertions.assertThrows(
              NodeReportException.class, () -> other.apply(updates.uninstalling(Set.of(), "x")));
      assertTrue(e.getMessage().contains("only the Node its pod runs on"), e.getMessage());
    }
    var b = api.admin().nodes().withName(KubeApi.OTHER_NODE).get();
    assertFalse(b.getMetadata().getLabels().containsKey(LABEL_STATE));
  }

  // --- helpers ------------------------------------------------------------------------------

  static Map<Path, String> stat(Path root) throws Exception {
    Map<Path, String> m = new TreeMap<>();
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.toList()) {
        Map<String, Object> a =
            Files.readAttributes(
                p, "unix:ino,lastModifiedTime,ctime,mode", LinkOption.NOFOLLOW_LINKS);
        m.put(p, a.toString());
      }
    }
    return m;
  }

  static void deleteTree(Path root) throws Exception {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
