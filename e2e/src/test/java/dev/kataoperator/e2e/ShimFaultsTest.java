package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kataoperator.testsupport.Containerd;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults, against a real containerd 1.6 and real VMs: a VM that dies under running processes,
 * containerd restarted under a running pod, and many pod create/delete cycles through CRI. Every
 * leak check looks for this test's own ids and paths: other tests may run VMs at the same time.
 */
@Tag("vm")
class ShimFaultsTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String IMAGE = "docker.io/library/busybox:latest";
  private static final String SUBNET = "10.88.79";
  private static final String BRIDGE = "katafault0";
  private static final String CGROUP_PARENT = "katafaults";

  /** The same parent as the systemd cgroup driver names it (a slice). */
  private static final String CGROUP_SLICE = "katafaults.slice";

  private static final int CYCLES = 30;
  @TempDir static Path tmp;
  static Path dir;
  static CriFixture fixture;
  static Containerd containerd;

  @BeforeAll
  static void start() throws Exception {
    // The last assertion of the cycles test is that no cgroup of this test is left: residue of an
    // earlier, failed run on this machine (empty cgroups) would fail it for nothing.
    for (Path root : cgroupRoots()) {
      for (String parent : List.of(CGROUP_PARENT, CGROUP_SLICE)) {
        Path residue = root.resolve(parent);
        if (Files.isDirectory(residue)) {
          try (Stream<Path> s = Files.walk(residue)) {
            for (Path d :
                s.filter(Files::isDirectory).sorted(java.util.Comparator.reverseOrder()).toList()) {
              Files.delete(d); // a cgroup with processes in it refuses: the failure names it
            }
          }
        }
      }
    }
    fixture =
        CriFixture.start(
            Containerd.Version.V1_6, tmp, BRIDGE, SUBNET, List.of("default", "k8s.io"));
    containerd = fixture.containerd();
    dir = fixture.containerdDir();
  }

  /** Whatever a failed test left in ctr's namespace goes, so that the next test starts clean. */
  @AfterEach
  void removeLeftoverTasks() throws Exception {
    for (String id : containerd.ctr("task", "ls", "-q").out().lines().toList()) {
      containerd.ctr("task", "kill", "-s", "KILL", id);
      containerd.ctr("task", "delete", "-f", id);
    }
    for (String id : containerd.ctr("containers", "ls", "-q").out().lines().toList()) {
      containerd.ctr("containers", "rm", id);
    }
  }

  @AfterAll
  static void stop() throws Exception {
    if (fixture != null) {
      fixture.stop();
    }
  }

  // ------------------------------------------------------------------------------- the VM dies

  @Test
  void vmThatDiesEndsEveryProcessWithAnExitAndLeavesNothing() throws Exception {
    String id = "faults-vmdies";
    Path events = tmp.resolve("events.txt");
    Process eventsCtr = background(events, "events");
    try {
      var run =
          containerd.ctr("run", "-d", "--runtime", Containerd.RUNTIME, IMAGE, id, "sleep", "600");
      assertEquals(0, run.exit(), run + containerd.log());
      // A foreground exec with output: its ctr must come back once the VM is gone, which needs
      // both its exit and the end of its output streams.
      Path execOut = tmp.resolve("exec.txt");
      Process exec =
          background(
              execOut,
              "task",
              "exec",
              "--exec-id",
              "e1",
              id,
              "sh",
              "-c",
              "echo exec-up; sleep 600");
      waitUntil(
          () -> read(execOut).contains("exec-up"), 30, "the exec did not start: " + read(execOut));

      List<String> qemu = Leaks.processes(runDir("default", id));
      assertEquals(1, qemu.size(), "one QEMU for the pod: " + qemu);
      long qemuPid = Long.parseLong(qemu.getFirst().split(" ")[0]);
      assertTrue(ProcessHandle.of(qemuPid).orElseThrow().destroyForcibly(), "SIGKILL QEMU");

      assertTrue(exec.waitFor(30, TimeUnit.SECONDS), "ctr task exec hangs after the VM died");
      assertEquals(137, exec.exitValue(), "the exec's exit status: " + read(execOut));
      waitUntil(() -> taskStatus(id).equals("STOPPED"), 30, "the task is not STOPPED");
      assertDeletedWithStatus(id, 137);
      assertEquals(0, containerd.ctr("containers", "rm", id).exit());

      // TaskExit for both processes, with the VM's death as their status.
      waitUntil(() -> exitEvents(events, id).size() == 2, 10, "no TaskExit for both processes");
      for (JsonNode exit : exitEvents(events, id)) {
        assertEquals(137, exit.path("exit_status").asInt(), exit.toString());
      }
    } finally {
      eventsCtr.destroy();
    }
    assertNothingLeftOf("default", List.of(id));
  }

  // -------------------------------------------------------------------- containerd restarted

  @Test
  void podsKeepRunningWhileContainerdRestarts() throws Exception {
    // A ctr task, and a CRI pod whose container logs all the time (containerd reads its output).
    String id = "faults-restart";
    var run =
        containerd.ctr("run", "-d", "--runtime", Containerd.RUNTIME, IMAGE, id, "sleep", "600");
    assertEquals(0, run.exit(), run + containerd.log());
    Path pod = tmp.resolve("restart-pod.json");
    Files.writeString(
        pod,
        """
        {"metadata":{"name":"faults-restart","namespace":"default","uid":"faults-restart","attempt":1},
         "hostname":"faults-restart","log_directory":"%s","linux":{}}
        """
            .formatted(tmp.resolve("logs")));
    Path ticker = tmp.resolve("ticker.json");
    Files.writeString(
        ticker,
        """
        {"metadata":{"name":"ticker"},"image":{"image":"%s"},
         "command":["sh","-c","i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done"],
         "log_path":"ticker.log","linux":{}}
        """
            .formatted(IMAGE));
    String podId = ok(crictl("runp", "--runtime", "kata-qemu", pod.toString()));
    String tick = ok(crictl("create", podId, ticker.toString(), pod.toString()));
    ok(crictl("start", tick));
    waitUntil(() -> lastTick(tick) >= 2, 30, "the ticker does not log");

    List<String> qemu = Leaks.processes(runDir("default", id));
    assertEquals(1, qemu.size(), qemu.toString());
    List<String> podQemu = Leaks.processes(runDir("k8s.io", podId));
    assertEquals(1, podQemu.size(), podQemu.toString());
    List<String> shims = shimJvms(id);
    shims.addAll(shimJvms(podId));
    assertEquals(2, shims.size(), shims.toString());

    containerd = fixture.restart(); // SIGTERM, a second without containerd, the same config again
    Path events = tmp.resolve("restart-events.txt");
    Process eventsCtr = background(events, "events");
    try {
      assertEquals(qemu, Leaks.processes(runDir("default", id)), "the same VM after the restart");
      assertEquals(podQemu, Leaks.processes(runDir("k8s.io", podId)), "the pod's VM too");
      List<String> after = shimJvms(id);
      after.addAll(shimJvms(podId));
      assertEquals(shims, after, "the same shims after the restart");

      // ctr: the task is listed as running, exec reaches it.
      assertEquals("RUNNING", taskStatus(id), containerd.ctr("task", "ls").out());
      var exec =
          containerd.ctr(
              "task", "exec", "--exec-id", "after", id, "sh", "-c", "echo reached; exit 4");
      assertEquals(4, exec.exit(), exec + containerd.log());
      assertEquals("reached\n", exec.out());

      // CRI: the container's output reaches its log again, exec works.
      int seen = lastTick(tick);
      waitUntil(() -> lastTick(tick) > seen + 3, 30, "no log after the restart");
      // Nothing lost: what the ticker wrote while containerd was down waited in the pipe.
      List<Integer> ticks = ticks(tick);
      for (int i = 0; i < ticks.size(); i++) {
        assertEquals(i, ticks.get(i), "the log has a gap around the restart: " + ticks);
      }
      assertEquals("still-here", ok(crictl("exec", tick, "echo", "still-here")));

      // Kill and delete work, and their events reach the restarted containerd.
      assertEquals(0, containerd.ctr("task", "kill", "-s", "KILL", id).exit());
      waitUntil(() -> taskStatus(id).equals("STOPPED"), 30, "the task did not stop after SIGKILL");
      waitUntil(
          () ->
              exitEvents(events, id).stream()
                  .anyMatch(
                      e ->
                          e.path("id").asText().equals(id) && e.path("exit_status").asInt() == 137),
          20,
          "no TaskExit of the init process after the restart");
      assertDeletedWithStatus(id, 137);
      assertEquals(0, containerd.ctr("containers", "rm", id).exit());
      ok(crictl("stopp", podId));
      ok(crictl("rmp", podId));
    } finally {
      eventsCtr.destroy();
    }
    assertNothingLeftOf("default", List.of(id));
    assertNothingLeftOf("k8s.io", List.of(podId));
  }

  /** The highest tick-N line in the ticker's CRI log, -1 for none. */
  private static int lastTick(String container) {
    return ticks(container).stream().mapToInt(Integer::intValue).max().orElse(-1);
  }

  /** The N of every tick-N line in the ticker's CRI log, in log order. */
  private static List<Integer> ticks(String container) {
    try {
      return crictl("logs", container)
          .out()
          .lines()
          .filter(l -> l.startsWith("tick-"))
          .map(l -> Integer.parseInt(l.substring(5).strip()))
          .toList();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  // ------------------------------------------------------------------------- create/delete cycles

  @Test
  void podCreateDeleteCyclesLeaveNothingBehind() throws Exception {
    var pods = new ArrayList<String>();
    var netnses = new ArrayList<Path>();
    long start = System.nanoTime();
    for (int i = 0; i < CYCLES; i++) {
      Path pod = tmp.resolve("cycle-pod.json");
      Files.writeString(
          pod,
          """
          {"metadata":{"name":"faults-%d","namespace":"default","uid":"faults-uid-%d","attempt":1},
           "hostname":"faults-%d","log_directory":"%s",
           "linux":{"cgroup_parent":"%s"}}
          """
              .formatted(i, i, i, tmp.resolve("logs"), cgroupParent(i)));
      String podId = ok(crictl("runp", "--runtime", "kata-qemu", pod.toString()));
      pods.add(podId);
      assertEquals(1, Leaks.processes(runDir("k8s.io", podId)).size(), "one QEMU for " + podId);
      JsonNode info = JSON.readTree(ok(crictl("inspectp", podId)));
      Path netns = networkNamespace(info);
      netnses.add(netns);
      assertTrue(links(netns).stream().anyMatch(ShimFaultsTest::isKataTap), "a tap in " + netns);
      // Every other pod as kubelet's systemd cgroup driver names it: a slice, the sandbox's scope.
      String cgroup =
          i % 2 == 0
              ? CGROUP_PARENT + "/pod-faults-uid-" + i + "/" + podId
              : CGROUP_SLICE + "/katafaults-pod" + i + ".slice/cri-containerd-" + podId + ".scope";
      assertTrue(
          cgroupRoots().stream().anyMatch(r -> Files.isDirectory(r.resolve(cgroup))),
          "the pod's cgroup " + cgroup);
      String qemu = Leaks.processes(runDir("k8s.io", podId)).getFirst().split(" ")[0];
      String qemuCgroups = Files.readString(Path.of("/proc", qemu, "cgroup"));
      assertTrue(
          qemuCgroups.contains(":/" + cgroup + "\n"), "QEMU in " + cgroup + ": " + qemuCgroups);
      ok(crictl("stopp", podId));
      ok(crictl("rmp", podId));
    }
    System.out.printf(
        "%d pod cycles in %d s%n",
        CYCLES, TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start));

    assertNothingLeftOf("k8s.io", pods);
    for (Path netns : netnses) {
      // CNI removes the namespace; were it kept, it must hold no tap of ours.
      if (Files.exists(netns)) {
        assertEquals(List.of(), links(netns).stream().filter(ShimFaultsTest::isKataTap).toList());
      }
    }
    assertEquals(
        List.of(),
        links(null).stream().filter(ShimFaultsTest::isKataTap).toList(),
        "kata taps on the host");
    for (Path root : cgroupRoots()) {
      assertTrue(!Files.exists(root.resolve(CGROUP_PARENT)), "leaked cgroup under " + root);
      assertTrue(!Files.exists(root.resolve(CGROUP_SLICE)), "leaked cgroup under " + root);
    }
  }

  // ------------------------------------------------------------------ a client that gives up

  /**
   * A RunPodSandbox whose client gives up before the VM has booted (crictl's deadline shorter than
   * a boot under emulation): containerd closes its connection to the shim and runs the shim's
   * {@code delete}, which must stop the still-running shim and its VM. Nothing of the pod may be
   * left: no shim JVM, QEMU, run directory, mount or tap. (Before the fix the shim JVM ran on.)
   */
  @Test
  void aPodStartTheClientGaveUpOnLeavesNothing() throws Exception {
    Path pod = tmp.resolve("impatient-pod.json");
    Files.writeString(
        pod,
        """
        {"metadata":{"name":"impatient","namespace":"default","uid":"impatient-uid","attempt":1},
         "hostname":"impatient","log_directory":"%s",
         "linux":{"cgroup_parent":"/%s/pod-impatient-uid"}}
        """
            .formatted(tmp.resolve("logs"), CGROUP_PARENT));
    String runRoot = "/run/kata/shim/k8s.io/";
    // How long a patient start takes here; the impatient client gives up part-way through it, at
    // a point where the VM is booting (checked below: a QEMU must have been seen).
    long patientMs = Long.MAX_VALUE;
    for (int i = 0; i < 2; i++) { // the first start also unpacks the pause image
      long t0 = System.nanoTime();
      String patient = ok(crictl("runp", "--runtime", "kata-qemu", pod.toString()));
      patientMs = Math.min(patientMs, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
      ok(crictl("stopp", patient));
      ok(crictl("rmp", patient));
      assertNothingLeftOf("k8s.io", List.of(patient));
    }

    boolean sawVm = false;
    for (double fraction : new double[] {0.5, 0.35, 0.7, 0.25}) {
      long timeoutMs = Math.max(500, (long) (patientMs * fraction));
      var seen = new java.util.concurrent.atomic.AtomicBoolean();
      Thread watcher =
          Thread.ofPlatform()
              .start(
                  () -> {
                    while (!Thread.currentThread().isInterrupted()) {
                      if (!Leaks.processes(runRoot).isEmpty()) {
                        seen.set(true);
                      }
                      try {
                        Thread.sleep(20);
                      } catch (InterruptedException e) {
                        return;
                      }
                    }
                  });
      var started =
          containerd.crictl(
              "--timeout", timeoutMs + "ms", "runp", "--runtime", "kata-qemu", pod.toString());
      Thread.sleep(500);
      watcher.interrupt();
      watcher.join();
      System.out.printf(
          "patient start %d ms; gave up after %d ms: exit %d, VM seen %s%n",
          patientMs, timeoutMs, started.exit(), seen.get());
      if (started.exit() == 0) {
        // Quick enough after all: remove it and try another point of the start.
        ok(crictl("stopp", started.out()));
        ok(crictl("rmp", started.out()));
        continue;
      }
      if (seen.get()) {
        sawVm = true;
        break;
      }
    }
    assertTrue(sawVm, "no attempt gave up while the VM was booting; the test proved nothing");
    waitUntil(
        () -> Leaks.processes(runRoot).isEmpty() && kataShimJvms().isEmpty(),
        60,
        "the abandoned pod's QEMU or shim JVM is still running: " + kataShimJvms());
    waitUntil(
        () -> listing(Path.of(runRoot)).isEmpty(),
        30,
        "the abandoned pod's run directory is still there");
    String state = dir.resolve("state").toString();
    waitUntil(
        () -> mountsMentioning(runRoot).isEmpty() && mountsMentioning(state).isEmpty(),
        30,
        "leaked mounts: " + mountsMentioning(runRoot) + mountsMentioning(state));
    assertEquals(
        List.of(),
        links(null).stream().filter(ShimFaultsTest::isKataTap).toList(),
        "kata taps on the host");
    // The pod can be started again, by a patient client.
    String podId = ok(crictl("runp", "--runtime", "kata-qemu", pod.toString()));
    ok(crictl("stopp", podId));
    ok(crictl("rmp", podId));
    assertNothingLeftOf("k8s.io", List.of(podId));
  }

  private static List<String> mountsMentioning(String path) {
    try {
      return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
          .filter(l -> l.contains(path))
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Shim JVMs of this test's containerd, whatever pod they serve. */
  private static List<String> kataShimJvms() {
    String state = dir.resolve("state").toString();
    var found = new ArrayList<String>();
    ProcessHandle.allProcesses()
        .forEach(
            h -> {
              String cmd = h.info().commandLine().orElse("");
              if (cmd.contains("KataShim") && shimBundle(h.pid(), cmd).startsWith(state)) {
                found.add(h.pid() + " " + cmd);
              }
            });
    return found;
  }

  private static List<Path> listing(Path d) {
    if (!Files.isDirectory(d)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(d)) {
      return s.toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  // ------------------------------------------------------------------------------------ leaks

  /**
   * No QEMU, virtiofsd or shim JVM of these pods, no run directory, no mount naming them or under
   * this containerd's state (the bundles), no shim socket.
   */
  private static void assertNothingLeftOf(String namespace, List<String> pods) throws Exception {
    String state = dir.resolve("state").toString();
    waitUntil(
        () ->
            pods.stream()
                .allMatch(
                    p ->
                        Leaks.processes(runDir(namespace, p)).isEmpty()
                            && shimJvms(p).isEmpty()
                            && !Files.exists(Path.of(runDir(namespace, p)))),
        30,
        "the pods' processes or run directories are still there");
    String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
    for (String pod : pods) {
      assertEquals(List.of(), Leaks.processes(runDir(namespace, pod)), "leaked VM processes");
      assertEquals(List.of(), shimJvms(pod), "leaked shim JVM");
      assertTrue(!Files.exists(Path.of(runDir(namespace, pod))), "leaked run dir of " + pod);
      assertTrue(!mounts.contains(pod), "leaked mount of " + pod);
      Path socket = shimSocket(namespace, pod);
      assertTrue(!Files.exists(socket), "leaked shim socket " + socket);
      assertTrue(!Files.exists(Path.of(socket + ".lock")), "leaked shim socket lock " + socket);
    }
    assertTrue(!mounts.contains(state), "leaked mount under " + state);
  }

  private static String runDir(String namespace, String pod) {
    return "/run/kata/shim/" + namespace + "/" + pod + "/";
  }

  /** The shim's socket, named as ShimMain (and containerd's own shims) name it. */
  private static Path shimSocket(String namespace, String pod) throws Exception {
    String key = Path.of(containerd.socket().toString(), namespace, pod).normalize().toString();
    byte[] d = MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8));
    return Path.of("/run/containerd/s").resolve(HexFormat.of().formatHex(d));
  }

  /**
   * The bundle a shim JVM works on: its {@code -bundle} argument (containerd's delete), else its
   * working directory (start, which goes on to serve the pod, runs in the bundle).
   */
  private static String shimBundle(long pid, String cmd) {
    var m = java.util.regex.Pattern.compile(" -bundle (\\S+)").matcher(cmd);
    if (m.find()) {
      return m.group(1);
    }
    try {
      return Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "cwd")).toString();
    } catch (IOException e) {
      return "";
    }
  }

  /** Shim JVMs serving {@code pod} for this test's containerd (its bundle is in our state dir). */
  private static List<String> shimJvms(String pod) {
    String state = dir.resolve("state").toString();
    var found = new ArrayList<String>();
    try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : procs.filter(d -> d.getFileName().toString().matches("\\d+")).toList()) {
        String cmd;
        try {
          cmd =
              new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8)
                  .replace('\0', ' ');
        } catch (IOException e) {
          continue;
        }
        String bundle = shimBundle(Long.parseLong(p.getFileName().toString()), cmd);
        if (cmd.contains("KataShim") && bundle.startsWith(state) && bundle.endsWith("/" + pod)) {
          found.add(p.getFileName() + " " + cmd);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return found;
  }

  private static Path networkNamespace(JsonNode inspect) {
    for (JsonNode ns : inspect.path("info").path("runtimeSpec").path("linux").path("namespaces")) {
      if (ns.path("type").asText().equals("network")) {
        return Path.of(ns.path("path").asText());
      }
    }
    throw new AssertionError("no network namespace in " + inspect);
  }

  /** Link names in {@code netns} (null: the host's). */
  private static List<String> links(Path netns) throws Exception {
    var cmd = new ArrayList<String>();
    if (netns != null) {
      cmd.addAll(List.of("nsenter", "--net=" + netns));
    }
    cmd.addAll(List.of("ip", "-o", "link", "show"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, p.waitFor(), out);
    return out.lines().map(l -> l.split(":\\s+")[1].split("@")[0]).toList();
  }

  /** Kubelet's pod cgroup for cycle {@code i}: cgroupfs driver's form, or systemd's. */
  private static String cgroupParent(int i) {
    return i % 2 == 0
        ? "/" + CGROUP_PARENT + "/pod-faults-uid-" + i
        : "/" + CGROUP_SLICE + "/katafaults-pod" + i + ".slice";
  }

  private static boolean isKataTap(String link) {
    return link.matches("tap.*_kata");
  }

  private static List<Path> cgroupRoots() throws IOException {
    try (Stream<Path> s = Files.list(Path.of("/sys/fs/cgroup"))) {
      var roots = new ArrayList<>(s.filter(Files::isDirectory).toList());
      roots.add(Path.of("/sys/fs/cgroup"));
      return roots;
    }
  }

  // ----------------------------------------------------------------------------------- helpers

  /** ctr task delete succeeds and warns about the task's non-zero exit status. */
  private static void assertDeletedWithStatus(String id, int status) throws Exception {
    var deleted = containerd.ctr("task", "delete", id);
    assertEquals(0, deleted.exit(), deleted.toString());
    assertTrue(deleted.err().contains("exit code " + status + "\""), "exit status: " + deleted);
  }

  /** The task's STATUS column in {@code ctr task ls}, or "" when it is not listed. */
  private static String taskStatus(String id) {
    try {
      for (String line : containerd.ctr("task", "ls").out().lines().toList()) {
        String[] cols = line.trim().split("\\s+");
        if (cols.length >= 3 && cols[0].equals(id)) {
          return cols[2];
        }
      }
      return "";
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** The /tasks/exit events of {@code container} that {@code ctr events} printed. */
  private static List<JsonNode> exitEvents(Path events, String container) {
    var found = new ArrayList<JsonNode>();
    for (String line : read(events).lines().toList()) {
      int json = line.indexOf('{');
      if (!line.contains(" /tasks/exit ") || json < 0) {
        continue;
      }
      try {
        JsonNode e = JSON.readTree(line.substring(json));
        if (e.path("container_id").asText().equals(container)) {
          found.add(e);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return found;
  }

  /** ctr with its output (stdout and stderr) going to {@code out}, not waited for. */
  private static Process background(Path out, String... args) throws IOException {
    var cmd =
        new ArrayList<>(
            List.of(
                Containerd.Version.V1_6.ctr.toString(),
                "--address",
                containerd.socket().toString()));
    cmd.addAll(List.of(args));
    return new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(out.toFile())
        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
        .start();
  }

  private static String read(Path file) {
    try {
      return Files.exists(file) ? Files.readString(file) : "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void waitUntil(BooleanSupplier done, int seconds, String message)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(message + "\n" + containerd.log());
      }
      Thread.sleep(200);
    }
  }

  static Containerd.Result crictl(String... args) throws Exception {
    return containerd.crictl(args);
  }

  private static String ok(Containerd.Result r) {
    assertEquals(0, r.exit(), r.err() + "\n" + containerd.log());
    return r.out();
  }
}
