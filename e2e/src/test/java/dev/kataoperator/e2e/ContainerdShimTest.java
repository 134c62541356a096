package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.sandbox.Timeline;
import dev.kataoperator.testsupport.Containerd;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shim driven by a real containerd through ctr, as a user would: {@code ctr run --runtime
 * io.containerd.kata-qemu.v2}. One subclass per containerd version.
 */
abstract class ContainerdShimTest {
  static final String IMAGE = "docker.io/library/busybox:latest";
  @TempDir static Path tmp;
  static Containerd containerd;

  static void startContainerd(Containerd.Version version) throws Exception {
    Path images = Repo.root().resolve("build/images");
    var build =
        new ProcessBuilder(
                "bash",
                Repo.root().resolve("e2e/images/build-busybox.sh").toString(),
                images.toString())
            .inheritIO()
            .start();
    assertEquals(0, build.waitFor(), "building the busybox image");
    containerd = Containerd.start(version, tmp.resolve("containerd"), "");
    var imported = containerd.ctr("images", "import", images.resolve("busybox.tar").toString());
    assertEquals(0, imported.exit(), imported.toString());
  }

  @AfterAll
  static void stopContainerd() throws Exception {
    if (containerd != null) {
      containerd.close();
    }
  }

  @AfterEach
  void nothingLeaks() throws Exception {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!Leaks.processes("/run/kata/shim/").isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertEquals(List.of(), Leaks.processes("/run/kata/shim/"), "leaked VMs");
    assertEquals(List.of(), Leaks.entries(Path.of("/run/kata/shim/default")), "leaked run dirs");
    String mounts = Files.readString(Path.of("/proc/self/mountinfo"));
    assertTrue(!mounts.contains("/run/kata/shim/"), "leaked mounts under /run/kata/shim");
  }

  Containerd.Result run(String id, String... command) throws Exception {
    var args =
        new java.util.ArrayList<>(
            List.of("run", "--rm", "--runtime", Containerd.RUNTIME, IMAGE, id));
    args.addAll(List.of(command));
    return containerd.ctr(args.toArray(String[]::new));
  }

  @Test
  void unameIsTheGuestKernel() throws Exception {
    var r = run("uname", "uname", "-r");
    assertEquals(0, r.exit(), r + containerd.log());
    assertEquals(Repo.guestKernelRelease(), r.out().strip());
  }

  @Test
  void exitCodesComeThrough() throws Exception {
    assertEquals(7, run("exit7", "sh", "-c", "exit 7").exit());
    assertEquals(0, run("exit0", "true").exit());
  }

  @Test
  void stdinIsPipedThrough() throws Exception {
    byte[] input = "piped through containerd\n".getBytes(StandardCharsets.UTF_8);
    var r =
        containerd.ctrWithInput(
            input, "run", "--rm", "--runtime", Containerd.RUNTIME, IMAGE, "stdin", "cat");
    assertEquals(0, r.exit(), r.toString());
    assertEquals("piped through containerd\n", r.out());
  }

  @Test
  void terminalMode() throws Exception {
    var r =
        containerd.ctrInTerminal(
            "run",
            "--rm",
            "-t",
            "--runtime",
            Containerd.RUNTIME,
            IMAGE,
            "tty",
            "sh",
            "-c",
            "test -t 0 && test -t 1 && tty");
    assertEquals(0, r.exit(), r.toString());
    assertTrue(r.out().contains("/dev/pts/"), r.out());
  }

  @Test
  void execKillAndDeleteBehaveAsWithRunc() throws Exception {
    var started =
        containerd.ctr(
            "run", "-d", "--runtime", Containerd.RUNTIME, IMAGE, "longrun", "sleep", "600");
    assertEquals(0, started.exit(), started + containerd.log());
    var exec =
        containerd.ctr(
            "task", "exec", "--exec-id", "e1", "longrun", "sh", "-c", "echo from-exec; exit 3");
    assertEquals(3, exec.exit(), exec.toString());
    assertEquals("from-exec\n", exec.out());
    var ls = containerd.ctr("task", "ls");
    assertTrue(ls.out().contains("longrun") && ls.out().contains("RUNNING"), ls.out());
    // The task's pid is QEMU's on the host (containerd and the CRI find namespaces by it), never
    // a guest pid that names some unrelated host process.
    String pid =
        ls.out()
            .lines()
            .filter(l -> l.startsWith("longrun"))
            .findFirst()
            .orElseThrow()
            .split("\\s+")[1];
    String cmdline = Files.readString(Path.of("/proc", pid, "cmdline"));
    assertTrue(cmdline.contains("qemu-system"), "task pid " + pid + " is " + cmdline);
    // QEMU keeps only the capabilities its 9p server and tap need (QemuHypervisor).
    long chown = 1L << 0, dacOverride = 1L << 1, dacReadSearch = 1L << 2, fowner = 1L << 3;
    long fsetid = 1L << 4, netAdmin = 1L << 12;
    long expected = chown | dacOverride | dacReadSearch | fowner | fsetid | netAdmin;
    String status = Files.readString(Path.of("/proc", pid, "status"));
    for (String field : List.of("CapBnd", "CapEff", "CapPrm")) {
      long caps =
          Long.parseUnsignedLong(
              status
                  .lines()
                  .filter(l -> l.startsWith(field + ":"))
                  .findFirst()
                  .orElseThrow()
                  .substring(field.length() + 1)
                  .strip(),
              16);
      assertEquals(expected, caps, field + " of QEMU: " + Long.toHexString(caps));
    }

    assertEquals(0, containerd.ctr("task", "kill", "-s", "KILL", "longrun").exit());
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (!containerd.ctr("task", "ls").out().contains("STOPPED")) {
      assertTrue(System.nanoTime() < deadline, "task did not stop after SIGKILL");
      Thread.sleep(200);
    }
    var deleted = containerd.ctr("task", "delete", "longrun");
    assertEquals(0, deleted.exit(), deleted.toString());
    assertEquals(0, containerd.ctr("containers", "rm", "longrun").exit());
    assertTrue(!containerd.ctr("task", "ls").out().contains("longrun"));
  }

  /**
   * The guest's OOM killer reaches containerd as a TaskOOM event of that container (what the CRI
   * turns into reason OOMKilled); the agent learns of it from memory.events through inotify.
   */
  @Test
  void anOomKillInTheGuestIsATaskOomEvent() throws Exception {
    Path events = tmp.resolve("oom-events.txt");
    Process watcher =
        new ProcessBuilder(
                containerd.version().ctr.toString(),
                "--address",
                containerd.socket().toString(),
                "events")
            .redirectErrorStream(true)
            .redirectOutput(events.toFile())
            .start();
    try {
      Thread.sleep(500); // subscribed before the container starts
      // tail keeps the whole of an endless line: it grows until the 16 MiB limit kills it.
      var r =
          containerd.ctr(
              "run",
              "--rm",
              "--memory-limit",
              Long.toString(16L << 20),
              "--runtime",
              Containerd.RUNTIME,
              IMAGE,
              "oom",
              "tail",
              "/dev/zero");
      assertEquals(137, r.exit(), "killed by the OOM killer: " + r + containerd.log());
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (!Files.readString(events).contains("/tasks/oom")) {
        assertTrue(
            System.nanoTime() < deadline,
            "no /tasks/oom event; events seen:\n" + Files.readString(events));
        Thread.sleep(100);
      }
      String oom =
          Files.readString(events).lines().filter(l -> l.contains("/tasks/oom")).findFirst().get();
      assertTrue(oom.contains("\"oom\""), "the event names the container: " + oom);
    } finally {
      watcher.destroy();
      watcher.waitFor();
    }
  }

  /** Each pod's shim logs when each phase of its life happened, in the order it happened. */
  @Test
  void thePodsTimelineIsLoggedInOrder() throws Exception {
    assertEquals(0, run("phases", "true").exit());
    String line =
        containerd
            .fullLog()
            .lines()
            .filter(l -> l.contains("pod phases: " + Timeline.LOG_PREFIX))
            .reduce((a, b) -> b)
            .orElseThrow(() -> new AssertionError("no timeline line:\n" + containerd.log()));
    var phases = Measure.timelines(line).getFirst();
    List<String> order =
        List.of(
            Timeline.CREATE_REQUESTED,
            Timeline.QEMU,
            Timeline.GUEST_INIT,
            Timeline.AGENT_READY,
            Timeline.SANDBOX,
            Timeline.CREATED,
            Timeline.STARTED,
            Timeline.EXITED,
            Timeline.DELETED,
            Timeline.VM_STOPPED);
    long before = 0;
    for (String phase : order) {
      Long at = phases.get(phase);
      assertTrue(at != null && at >= before, phase + " out of order in " + line);
      before = at;
    }
    // The guest's clock, placed on the host's: its kernel starts after the request and before its
    // init, and the agent listens before it answers.
    assertTrue(phases.get(Timeline.GUEST_KERNEL) >= phases.get(Timeline.CREATE_REQUESTED), line);
    assertTrue(phases.get(Timeline.GUEST_KERNEL) <= phases.get(Timeline.GUEST_INIT), line);
    assertTrue(phases.get(Timeline.AGENT_LISTENING) <= phases.get(Timeline.AGENT_READY), line);
  }
}
