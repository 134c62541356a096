package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** kata-run end to end: real QEMU (TCG here), the real guest kernel, agent and crun. */
@Tag("vm")
class KataRunTest {
  @TempDir static Path shared;
  static Path rootfs;

  record Result(int exit, byte[] stdout, String stderr) {
    String out() {
      return new String(stdout, StandardCharsets.UTF_8);
    }
  }

  @BeforeAll
  static void rootfs() throws IOException {
    rootfs = Busybox.rootfs(shared.resolve("busybox"));
  }

  @AfterEach
  void nothingLeaks() throws Exception {
    Leaks.assertNoneFromKataRun();
  }

  static Result kataRun(byte[] stdin, String... args) throws Exception {
    var cmd = new ArrayList<String>();
    cmd.add(Repo.kataRun().toString());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).start();
    CompletableFuture<byte[]> out = readAll(p.getInputStream());
    CompletableFuture<byte[]> err = readAll(p.getErrorStream());
    try (var in = p.getOutputStream()) {
      if (stdin != null) {
        in.write(stdin);
      }
    }
    if (!p.waitFor(180, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("kata-run did not finish in 180 s: " + String.join(" ", cmd));
    }
    return new Result(p.exitValue(), out.get(), new String(err.get(), StandardCharsets.UTF_8));
  }

  private static CompletableFuture<byte[]> readAll(InputStream in) {
    var f = new CompletableFuture<byte[]>();
    Thread.ofVirtual()
        .start(
            () -> {
              try {
                f.complete(in.readAllBytes());
              } catch (IOException e) {
                f.completeExceptionally(new UncheckedIOException(e));
              }
            });
    return f;
  }

  static Result run(String... command) throws Exception {
    var args = new ArrayList<>(List.of("--rootfs", rootfs.toString(), "--"));
    args.addAll(List.of(command));
    return kataRun(null, args.toArray(String[]::new));
  }

  /**
   * The guest keeps time with the host: two lines printed 6 s apart by the guest's clock arrive
   * about 6 s apart on the host's. Under TCG on a host whose TSC frequency is known (HostTsc) the
   * guest runs on the TSC (tickless idle); a wrong frequency would show here as a clock running
   * fast or slow. There its timer events come from the LAPIC timer, calibrated against the TSC (the
   * guest kernel's patch): not the PIT, the fallback that costs an idle VM ~5x the host wake-ups; a
   * miscalibrated LAPIC timer would show as a {@code sleep 6} lasting longer.
   */
  @Test
  void theGuestClockKeepsTimeWithTheHost() throws Exception {
    var cmd =
        List.of(
            Repo.kataRun().toString(),
            "--rootfs",
            rootfs.toString(),
            "--",
            "sh",
            "-c",
            // The clock devices read last, in steady state: the kernel moves from tsc-early to
            // tsc about a second after its TSC setup, which a fast boot can still be within.
            "cut -d' ' -f1 /proc/uptime; sleep 6; cut -d' ' -f1 /proc/uptime;"
                + " cat /sys/devices/system/clocksource/clocksource0/current_clocksource;"
                + " cat /sys/devices/system/clockevents/clockevent0/current_device");
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    var lines = new ArrayList<String>();
    var arrived = new ArrayList<Long>();
    try (var in =
        new java.io.BufferedReader(
            new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String l = in.readLine(); l != null; l = in.readLine()) {
        lines.add(l.strip());
        arrived.add(System.nanoTime());
      }
    } finally {
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    assertEquals(4, lines.size(), "two uptimes, clocksource, clockevent device: " + lines);
    double guest = Double.parseDouble(lines.get(1)) - Double.parseDouble(lines.get(0));
    double host = (arrived.get(1) - arrived.get(0)) / 1e9;
    assertEquals(guest, host, 1.0, "guest clock " + guest + " s against host " + host + " s");
    assertEquals(6.0, guest, 1.0, "sleep 6 by the guest's own clock");
    if (dev.kataoperator.shim.hypervisor.qemu.HostTsc.khz().isPresent()
        && !dev.kataoperator.contract.HostVirtualization.probe().kvmUsable()) {
      assertEquals("tsc", lines.get(2), "TCG on a host with a known TSC frequency");
      assertEquals("lapic", lines.get(3), "the guest's timer events, TCG with a known TSC");
    }
  }

  /**
   * Memory the guest frees goes back to the host (free page reporting through the balloon device):
   * after the guest fills and frees a 150 MiB buffer, QEMU's resident memory comes back to within
   * 60 MiB of what it was before, instead of keeping the 150 MiB for the VM's life.
   */
  @Test
  void memoryTheGuestFreesGoesBackToTheHost() throws Exception {
    var cmd =
        List.of(
            Repo.kataRun().toString(),
            "--rootfs",
            rootfs.toString(),
            "--",
            "sh",
            "-c",
            "echo up; sleep 2; dd if=/dev/zero of=/dev/null bs=150M count=2 2>/dev/null;"
                + " echo freed; sleep 20");
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    long before = 0;
    long after = Long.MAX_VALUE;
    try (var in =
        new java.io.BufferedReader(
            new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      assertEquals("up", in.readLine());
      String qemu =
          Leaks.processes("/run/kata/kata-run/").stream()
              .filter(l -> l.contains("qemu"))
              .findFirst()
              .orElseThrow()
              .split(" ")[0];
      before = rssKiB(qemu);
      assertEquals("freed", in.readLine());
      // The guest reports free 2 MiB blocks a couple of seconds after they are freed.
      long deadline = System.nanoTime() + 15_000_000_000L;
      while (System.nanoTime() < deadline) {
        after = rssKiB(qemu);
        if (after < before + (60 << 10)) {
          break;
        }
        Thread.sleep(500);
      }
    } finally {
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    assertTrue(
        after < before + (60 << 10),
        "QEMU held " + (before >> 10) + " MiB before and " + (after >> 10) + " MiB after");
  }

  private static long rssKiB(String pid) throws IOException {
    for (String line : java.nio.file.Files.readAllLines(Path.of("/proc", pid, "status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IOException("no VmRSS for " + pid);
  }

  @Test
  void unameIsTheGuestKernelNotTheHosts() throws Exception {
    Result r = run("uname", "-r");
    assertEquals(0, r.exit(), r.stderr());
    assertEquals(Repo.guestKernelRelease(), r.out().strip());
    assertNotEquals(
        new String(
                new ProcessBuilder("uname", "-r").start().getInputStream().readAllBytes(),
                StandardCharsets.UTF_8)
            .strip(),
        r.out().strip());
    assertTrue(r.out().strip().endsWith("-kata"), r.out());
  }

  @Test
  void bootIdDiffersFromTheHosts() throws Exception {
    Result r = run("cat", "/proc/sys/kernel/random/boot_id");
    assertEquals(0, r.exit(), r.stderr());
    String host = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
    assertEquals(36, r.out().strip().length(), r.out());
    assertNotEquals(host, r.out().strip());
  }

  @Test
  void exitStatusesComeThrough() throws Exception {
    assertEquals(0, run("true").exit());
    assertEquals(7, run("sh", "-c", "exit 7").exit());
    // The container's init is PID 1 of its namespace and ignores its own SIGKILL; a child that
    // dies of SIGKILL makes the shell exit 137. Init itself killed by a signal: SandboxTest.
    assertEquals(137, run("sh", "-c", "sh -c 'kill -9 $$'; exit $?").exit());
  }

  @Test
  void stdinIsPipedThrough() throws Exception {
    byte[] input = "hello from the host\nsecond line\n".getBytes(StandardCharsets.UTF_8);
    Result r = kataRun(input, "--rootfs", rootfs.toString(), "-i", "--", "cat");
    assertEquals(0, r.exit(), r.stderr());
    assertArrayEquals(input, r.stdout());
  }

  @Test
  void oneMebibyteOfStdoutArrivesIntact() throws Exception {
    // seq output is deterministic, so the host can compute the expected bytes itself.
    Result r = run("sh", "-c", "seq 1 200000 | head -c 1048576");
    assertEquals(0, r.exit(), r.stderr());
    var expected = new ByteArrayOutputStream();
    for (int i = 1; expected.size() < 1048576; i++) {
      expected.writeBytes((i + "\n").getBytes(StandardCharsets.US_ASCII));
    }
    byte[] want = Arrays.copyOf(expected.toByteArray(), 1048576);
    assertEquals(1048576, r.stdout().length);
    assertArrayEquals(want, r.stdout());
  }

  @Test
  void stderrIsSeparate() throws Exception {
    Result r = run("sh", "-c", "echo out; echo err >&2");
    assertEquals("out\n", r.out());
    assertTrue(r.stderr().contains("err\n"), r.stderr());
  }

  @Test
  void envCwdAndUserFromTheSpecApply() throws Exception {
    Result r =
        kataRun(
            null,
            "--rootfs",
            rootfs.toString(),
            "-e",
            "GREETING=hi there",
            "-w",
            "/work",
            "-u",
            "65534:65534",
            "--",
            "sh",
            "-c",
            "echo \"$GREETING\"; pwd; id -u; id -g");
    assertEquals(0, r.exit(), r.stderr());
    assertEquals("hi there\n/work\n65534\n65534\n", r.out());
  }

  @Test
  void readOnlyRootfsIsReadOnly() throws Exception {
    Result r =
        kataRun(
            null,
            "--rootfs",
            rootfs.toString(),
            "--read-only",
            "--",
            "sh",
            "-c",
            "touch /created-by-test && echo wrote || echo refused");
    assertEquals("refused\n", r.out(), r.stderr());
    assertTrue(Files.notExists(rootfs.resolve("created-by-test")));
  }

  @Test
  void twoVmsRunAtOnce() throws Exception {
    // Each VM sleeps long enough that both must be up at the same time.
    String cmd = "sleep 3; cat /proc/sys/kernel/random/boot_id";
    // Own threads: the common pool has a single worker on a 2-core machine.
    var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
    var a = CompletableFuture.supplyAsync(() -> call("sh", "-c", cmd), pool);
    var b = CompletableFuture.supplyAsync(() -> call("sh", "-c", cmd), pool);
    pool.shutdown();
    int most = 0;
    while (!(a.isDone() && b.isDone())) {
      most = Math.max(most, Leaks.processes("/run/kata/kata-run/").size());
      Thread.sleep(100);
    }
    assertEquals(2, most, "two QEMU processes at the same time");
    Result ra = a.get();
    Result rb = b.get();
    assertEquals(0, ra.exit(), ra.stderr());
    assertEquals(0, rb.exit(), rb.stderr());
    assertNotEquals(ra.out(), rb.out(), "two VMs, two boot ids");
  }

  private static Result call(String... command) {
    try {
      return run(command);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
