package dev.kataoperator.shim.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Any;
import dev.kataoperator.shim.containerd.ShimContext;
import dev.kataoperator.shim.containerd.TaskBackend;
import dev.kataoperator.shim.containerd.TaskBackend.CreateRequest;
import dev.kataoperator.shim.containerd.api.runtimeoptions.Options;
import dev.kataoperator.shim.containerd.api.task.CreateTaskRequest;
import dev.kataoperator.shim.containerd.api.task.CreateTaskResponse;
import dev.kataoperator.shim.containerd.api.task.ExecProcessRequest;
import dev.kataoperator.shim.containerd.api.task.StartRequest;
import dev.kataoperator.shim.containerd.api.task.StartResponse;
import dev.kataoperator.shim.containerd.io.ProcessIo;
import dev.kataoperator.shim.errors.ShimException;
import dev.kataoperator.shim.sandbox.Sandbox;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pod's logic without root or a VM: a {@link RecordingHost} stands for the node and an {@link
 * InProcessGuest} for the VM (the real agent protocol and client, served in this JVM). What is
 * bound where, what the guest is given, what a failed create undoes, what a dead VM means, and what
 * the cleanup after a dead shim removes. The same paths with real mounts and QEMU are the e2e
 * tier's (ContainerdShimTest, CriTest, HostMountsTest).
 */
@Tag("unit")
class PodBackendTest {
  private static final String POD = "pod1";
  private static final String SHARED = Sandbox.GUEST_SHARED_DIR;

  @TempDir Path tmp;
  private RecordingHost host;
  private Path config;
  private Path runDir;
  private Path volume;
  private Path configMap;
  private PodBackend backend;

  @BeforeEach
  void setUp() throws Exception {
    host = new RecordingHost(tmp.resolve("run"));
    runDir = host.runRoot.resolve("k8s.io").resolve(POD);
    config = tmp.resolve("kata-qemu.toml");
    Files.writeString(
        config,
        """
        [hypervisor]
        path = "/nonexistent/qemu-system-x86_64"
        kernel = "vmlinux"
        initrd = "rootfs.cpio.gz"
        """);
    volume = Files.createDirectories(tmp.resolve("volumes/data"));
    configMap = Files.createDirectories(tmp.resolve("volumes/settings"));
    backend = new PodBackend(context(POD), host);
  }

  @AfterEach
  void tearDown() {
    backend.shutdown();
  }

  private ShimContext context(String id) {
    return new ShimContext("k8s.io", id, POD, bundle(id), "", "", false);
  }

  private Path bundle(String id) {
    return tmp.resolve("bundles").resolve(id);
  }

  /** A container spec with a read-write and a read-only volume and a cgroup, as CRI writes one. */
  private ObjectNode spec(String id) throws Exception {
    return (ObjectNode)
        PodSpec.JSON.readTree(
            """
            {"ociVersion":"1.1.0","process":{"args":["sleep","60"],"cwd":"/"},
             "root":{"path":"rootfs"},"hostname":"%s",
             "mounts":[
               {"destination":"/proc","type":"proc","source":"proc"},
               {"destination":"/data","type":"bind","source":"%s","options":["rbind","rw"]},
               {"destination":"/etc/settings","type":"bind","source":"%s","options":["rbind","ro"]}],
             "linux":{"cgroupsPath":"/kubepods/%s/%s"}}
            """
                .formatted(POD, volume, configMap, POD, id));
  }

  private CreateRequest request(String id, ObjectNode spec) throws Exception {
    Path bundle = bundle(id);
    Files.createDirectories(bundle.resolve("rootfs"));
    PodSpec.JSON.writeValue(bundle.resolve("config.json").toFile(), spec);
    var options = Options.newBuilder().setConfigPath(config.toString()).build();
    return new CreateRequest(
        id, bundle, List.of(), ProcessIo.none(), Optional.of(Any.pack(options)), "");
  }

  private TaskBackend.Container create(String id) throws Exception {
    return backend.create(request(id, spec(id)));
  }

  @Test
  void theFirstContainerBootsThePodAndTheGuestSeesOnlyTheShareView() throws Exception {
    create(POD);

    var vm = host.guest.onlyVm();
    assertEquals(
        List.of(
            "share "
                + runDir.resolve("mounts")
                + " "
                + runDir.resolve("shared")
                + " "
                + runDir.resolve("staging")),
        host.calls("share"));
    // The guest is given the read-only view, never the directory where the host makes its binds.
    assertEquals(1, vm.config.sharedDirs().size());
    assertEquals(runDir.resolve("shared"), vm.config.sharedDirs().getFirst().hostPath());
    assertEquals(1, vm.sandboxes.size());
    assertEquals(POD, vm.sandboxes.getFirst().getSandboxId());
    assertEquals(SHARED, vm.sandboxes.getFirst().getSharedFilesystems(0).getMountPoint());
    assertEquals(
        List.of("cgroup-join /kubepods/pod1/pod1 [" + InProcessGuest.QEMU_PID + "]"),
        host.calls("cgroup-join"));
  }

  @Test
  void everyContainersRootfsAndVolumesAreBoundIntoItsOwnShareDirectory() throws Exception {
    create(POD);
    create("web");

    Path web = runDir.resolve("mounts/web");
    assertTrue(
        host.calls("bind")
            .containsAll(
                List.of(
                    "bind " + bundle("web").resolve("rootfs") + " " + web.resolve("rootfs") + " rw",
                    "bind " + volume + " " + web.resolve("mounts/0-data") + " rw",
                    "bind " + configMap + " " + web.resolve("mounts/1-settings") + " ro")),
        host.calls.toString());
    // One VM and one share for the pod, however many containers.
    assertEquals(1, host.guest.vms.size());
    assertEquals(1, host.calls("share").size());

    var created = host.guest.onlyVm().created.get("web");
    assertEquals(SHARED + "/web/rootfs", created.getRootfsPath());
    JsonNode mounts = PodSpec.JSON.readTree(created.getOciSpecJson().toByteArray()).path("mounts");
    assertEquals("proc", mounts.get(0).path("source").asText(), "guest filesystems stay");
    assertEquals(SHARED + "/web/mounts/0-data", mounts.get(1).path("source").asText());
    assertEquals(SHARED + "/web/mounts/1-settings", mounts.get(2).path("source").asText());
  }

  @Test
  void aFirstContainerTheGuestRefusesTakesThePodDownAndLeavesNothing() throws Exception {
    host.guest.failCreate.put(POD, "no such executable: sleep");

    var e = assertThrows(RuntimeException.class, () -> create(POD));

    assertTrue(e.getMessage().contains("no such executable"), e.getMessage());
    var vm = host.guest.onlyVm();
    assertTrue(vm.destroyed, "the guest was powered off through the agent");
    assertTrue(vm.exited.isDone(), "the VM is stopped");
    assertTrue(
        host.calls("unmount-all")
            .containsAll(
                List.of(
                    "unmount-all " + runDir.resolve("shared/" + POD),
                    "unmount-all " + runDir.resolve("mounts/" + POD),
                    "unmount-all " + runDir)),
        host.calls.toString());
    assertEquals(List.of("cgroup-remove /kubepods/pod1/pod1"), host.calls("cgroup-remove"));
    assertFalse(Files.exists(runDir), "the run directory is removed");
  }

  @Test
  void aFirstContainerWhoseVolumeCannotBeBoundTakesThePodDown() throws Exception {
    host.failBind = p -> p.equals(configMap);

    assertThrows(java.io.IOException.class, () -> create(POD));

    assertTrue(host.guest.onlyVm().exited.isDone(), "the VM is stopped");
    assertTrue(host.guest.onlyVm().created.isEmpty(), "the guest never saw the container");
    assertTrue(host.calls("unmount-all").contains("unmount-all " + runDir), host.calls.toString());
    assertFalse(Files.exists(runDir));
  }

  @Test
  void aVmThatCannotJoinThePodsCgroupDoesNotRun() throws Exception {
    host.failCgroup = true;

    var e = assertThrows(ShimException.class, () -> create(POD));

    assertTrue(e.getMessage().contains("pod's cgroup"), e.getMessage());
    assertTrue(host.guest.onlyVm().exited.isDone(), "the VM is stopped");
    assertEquals(
        List.of("cgroup-remove /kubepods/pod1/pod1"),
        host.calls("cgroup-remove"),
        "what the failed join made is removed, from its record");
    assertFalse(Files.exists(runDir));
  }

  @Test
  void aLaterContainerTheGuestRefusesUndoesOnlyItsOwnBinds() throws Exception {
    create(POD);
    host.guest.failCreate.put("web", "bad spec");
    host.calls.clear();

    assertThrows(RuntimeException.class, () -> create("web"));

    assertEquals(
        List.of(
            "unmount-all " + runDir.resolve("shared/web"),
            "unmount-all " + runDir.resolve("mounts/web")),
        host.calls("unmount-all"));
    var vm = host.guest.onlyVm();
    assertFalse(vm.exited.isDone(), "the pod's VM runs on");
    assertFalse(Files.exists(runDir.resolve("mounts/web")));
    create("sidecar");
    assertTrue(vm.created.containsKey("sidecar"));
  }

  @Test
  void aPodWhoseVmDiedReportsItsProcessesKilledAndRefusesNewContainers() throws Exception {
    var sandbox = create(POD);
    sandbox.init().start();

    host.guest.onlyVm().crash(1);

    assertEquals(Pod.VM_DIED_STATUS, sandbox.init().await().status());
    var e = assertThrows(ShimException.class, () -> create("web"));
    assertEquals(ShimException.Kind.FAILED_PRECONDITION, e.kind());
    assertTrue(e.getMessage().contains("must be recreated"), e.getMessage());
    assertEquals(1, host.guest.vms.size(), "no second VM is booted for the dead pod");
  }

  @Test
  void aKilledContainerReportsTheGuestsExitAndIsRemovedFromGuestAndHost() throws Exception {
    create(POD);
    var web = create("web");
    web.init().start();

    web.init().kill(15, false);
    assertEquals(128 + 15, web.init().await().status());
    host.calls.clear();
    web.init().delete();

    assertEquals(List.of("web"), host.guest.onlyVm().removed);
    assertTrue(
        host.calls("unmount-all").contains("unmount-all " + runDir.resolve("mounts/web")),
        host.calls.toString());
    assertFalse(host.guest.onlyVm().exited.isDone());
  }

  @Test
  void aSigkillToTheSandboxContainerStopsTheVmWhateverTheAgentAnswers() throws Exception {
    var sandbox = create(POD);
    var web = create("web");
    sandbox.init().start();
    web.init().start();
    var vm = host.guest.onlyVm();
    host.guest.wedged.addAll(
        List.of("SignalProcess", "WaitProcess", "DestroySandbox", "RemoveContainer"));

    long start = System.nanoTime();
    sandbox.init().kill(9, false);

    assertTrue(vm.exited.isDone(), "the VM is stopped from the host");
    assertEquals(Pod.VM_DIED_STATUS, sandbox.init().await().status());
    assertEquals(Pod.VM_DIED_STATUS, web.init().await().status());
    web.init().delete();
    sandbox.init().delete();
    backend.shutdown();
    long took = (System.nanoTime() - start) / 1_000_000;
    assertTrue(took < 5_000, "kill, waits, deletes and shutdown took " + took + " ms");
    assertFalse(Files.exists(runDir));
  }

  /**
   * A guest that acknowledges 1,000 execs and then never sends their output or exit: through the
   * task service, as containerd drives it, they hold a bounded number of OS threads (the output
   * pumps and the waits park on the agent's calls), and they all end when the VM does.
   */
  @Test
  void aThousandSilentExecsHoldABoundedNumberOfThreadsAndEndWithTheVm() throws Exception {
    var published = new java.util.concurrent.CopyOnWriteArrayList<String>();
    var events =
        new dev.kataoperator.shim.containerd.EventPublisher(
            "k8s.io", e -> published.add(e.getTopic()));
    var tasks =
        new dev.kataoperator.shim.containerd.TaskService(backend, events, "k8s.io", () -> {});
    var server = new dev.kataoperator.shim.ttrpc.TtrpcServer();
    tasks.register(server);
    server.start(tmp.resolve("shim.sock"));
    var client = dev.kataoperator.shim.ttrpc.TtrpcClient.connect(tmp.resolve("shim.sock"));
    String svc = dev.kataoperator.shim.containerd.TaskService.SERVICE_V2;
    var t = java.time.Duration.ofSeconds(30);
    try {
      request(POD, spec(POD)); // writes the bundle
      client.call(
          svc,
          "Create",
          CreateTaskRequest.newBuilder()
              .setId(POD)
              .setBundle(bundle(POD).toString())
              .setOptions(Any.pack(Options.newBuilder().setConfigPath(config.toString()).build()))
              .build(),
          CreateTaskResponse.parser(),
          t);
      client.call(
          svc, "Start", StartRequest.newBuilder().setId(POD).build(), StartResponse.parser(), t);
      host.guest.wedged.addAll(List.of("ReadStdout", "ReadStderr", "WaitProcess"));
      var threads = java.lang.management.ManagementFactory.getThreadMXBean();
      int before = threads.getThreadCount();
      String log = "file://" + tmp.resolve("exec.log");
      var process =
          Any.newBuilder()
              .setTypeUrl("types.containerd.io/opencontainers/runtime-spec/1/Process")
              .setValue(
                  com.google.protobuf.ByteString.copyFromUtf8(
                      "{\"args\":[\"sleep\",\"1d\"],\"cwd\":\"/\"}"))
              .build();
      int execs = 1000;
      for (int i = 0; i < execs; i++) {
        String exec = "probe" + i;
        client.call(
            svc,
            "Exec",
            ExecProcessRequest.newBuilder()
                .setId(POD)
                .setExecId(exec)
                .setStdout(log)
                .setStderr(log)
                .setSpec(process)
                .build(),
            com.google.protobuf.Empty.parser(),
            t);
        client.call(
            svc,
            "Start",
            StartRequest.newBuilder().setId(POD).setExecId(exec).build(),
            StartResponse.parser(),
            t);
      }
      int during = threads.getThreadCount();
      // Three platform threads each (two pumps and a wait) would be 3,000.
      assertTrue(
          during - before < 50, execs + " silent execs added " + (during - before) + " threads");

      host.guest.onlyVm().crash(0);
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (published.stream().filter(e -> e.equals("/tasks/exit")).count() < execs + 1) {
        assertTrue(System.nanoTime() < deadline, "exits published: " + published.size());
        Thread.sleep(20);
      }
    } finally {
      client.close();
      server.close();
      events.close();
    }
  }

  /**
   * An agent that stops answering everything once the pod runs: Kill of an application container,
   * its Delete and the pod's Shutdown each fail or finish within the configured deadlines (1 s
   * here), and the VM is killed after the shutdown's.
   */
  @Test
  void aWedgedAgentMakesKillDeleteAndShutdownWaitOnlyTheirConfiguredDeadlines() throws Exception {
    Files.writeString(
        config,
        Files.readString(config)
            + """
            [agent]
            call_timeout = 1
            shutdown_timeout = 1
            """);
    var sandbox = create(POD);
    var web = create("web");
    sandbox.init().start();
    web.init().start();
    var vm = host.guest.onlyVm();
    host.guest.wedged.addAll(
        List.of("SignalProcess", "WaitProcess", "RemoveContainer", "DestroySandbox"));

    long start = System.nanoTime();
    var kill = assertThrows(ShimException.class, () -> web.init().kill(15, false));
    long killMs = (System.nanoTime() - start) / 1_000_000;
    assertTrue(kill.getMessage().contains("SignalProcess"), kill.getMessage());
    assertTrue(killMs >= 900 && killMs < 3_000, "Kill took " + killMs + " ms");

    start = System.nanoTime();
    try {
      web.init().delete();
    } catch (ShimException e) {
      assertTrue(e.getMessage().contains("RemoveContainer"), e.getMessage());
    }
    long deleteMs = (System.nanoTime() - start) / 1_000_000;
    assertTrue(deleteMs < 3_000, "Delete took " + deleteMs + " ms");

    start = System.nanoTime();
    backend.shutdown();
    long shutdownMs = (System.nanoTime() - start) / 1_000_000;
    assertTrue(vm.exited.isDone(), "the VM is killed after the guest's power-off deadline");
    assertFalse(vm.destroyed, "the guest never powered off itself");
    assertTrue(shutdownMs >= 900 && shutdownMs < 3_000, "Shutdown took " + shutdownMs + " ms");
    assertFalse(Files.exists(runDir));
  }

  @Test
  void otherSignalsToTheSandboxContainerGoToTheGuest() throws Exception {
    var sandbox = create(POD);
    sandbox.init().start();

    sandbox.init().kill(15, false);

    assertEquals(128 + 15, sandbox.init().await().status());
    assertFalse(host.guest.onlyVm().exited.isDone(), "the VM runs until containerd deletes it");
  }

  @Test
  void aGuestThatNeverAnswersFailsTheBootWithinItsTimeoutAndLeavesNothing() throws Exception {
    shortTimeouts();
    host.guest.wedged.add("Health");

    long start = System.nanoTime();
    var e = assertThrows(ShimException.class, () -> create(POD));
    long took = (System.nanoTime() - start) / 1_000_000;

    assertTrue(e.getMessage().contains("did not answer within 1 s"), e.getMessage());
    assertTrue(took < 10_000, "took " + took + " ms");
    assertTrue(host.guest.onlyVm().exited.isDone(), "the VM is stopped");
    assertFalse(Files.exists(runDir));
  }

  @Test
  void aGuestThatNeverCreatesTheContainerFailsTheCreateWithinItsTimeout() throws Exception {
    shortTimeouts();
    host.guest.wedged.add("CreateContainer");

    long start = System.nanoTime();
    assertThrows(ShimException.class, () -> create(POD));
    long took = (System.nanoTime() - start) / 1_000_000;

    assertTrue(took < 10_000, "took " + took + " ms");
    assertTrue(
        host.guest.onlyVm().exited.isDone(), "the pod's VM is stopped with its first container");
    assertFalse(Files.exists(runDir));
  }

  /** One second for the agent to come up and to create a container. */
  private void shortTimeouts() throws Exception {
    Files.writeString(
        config,
        Files.readString(config)
            + """
            [agent]
            boot_timeout = 1
            [runtime]
            create_container_timeout = 1
            """);
  }

  @Test
  void hostileRequestsAreRefusedBeforeTheNodeIsTouched() throws Exception {
    ObjectNode hostNetwork = spec(POD);
    hostNetwork.putObject("annotations").put("io.kubernetes.cri.container-type", "sandbox");
    ObjectNode shared = spec(POD);
    ((ObjectNode) shared.path("mounts").get(1)).withArray("options").add("rshared");
    ObjectNode relative = spec(POD);
    ((ObjectNode) relative.path("mounts").get(1)).put("source", "data");

    assertThrows(IllegalArgumentException.class, () -> backend.create(request(POD, hostNetwork)));
    assertThrows(IllegalArgumentException.class, () -> backend.create(request(POD, shared)));
    assertThrows(IllegalArgumentException.class, () -> backend.create(request(POD, relative)));
    var badId = request("x", spec("x"));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            backend.create(
                new CreateRequest(
                    "../x", badId.bundle(), List.of(), ProcessIo.none(), badId.options(), "")));

    assertTrue(host.guest.vms.isEmpty(), "no VM was booted");
    assertTrue(
        host.calls.stream().noneMatch(c -> c.startsWith("share ") || c.startsWith("bind ")),
        host.calls.toString());
  }

  @Test
  void oomEventsReachTheTaskServiceOnlyForThePodsLiveContainers() throws Exception {
    BlockingQueue<String> seen = new LinkedBlockingQueue<>();
    backend.onOom(seen::add);
    create(POD);
    var vm = host.guest.onlyVm();

    vm.oomEvents.addAll(List.of("another-pods-container", POD, "never-created"));

    assertEquals(POD, seen.poll(10, TimeUnit.SECONDS));
    assertEquals(null, seen.poll(300, TimeUnit.MILLISECONDS));
  }

  @Test
  void shutdownPowersTheGuestOffAndRemovesWhatThePodHeld() throws Exception {
    create(POD);

    backend.shutdown();

    var vm = host.guest.onlyVm();
    assertTrue(vm.destroyed);
    assertTrue(vm.exited.isDone());
    assertTrue(host.calls("unmount-all").contains("unmount-all " + runDir));
    assertEquals(List.of("cgroup-remove /kubepods/pod1/pod1"), host.calls("cgroup-remove"));
    assertFalse(Files.exists(runDir));
  }

  @Test
  void theCleanupAfterADeadShimRemovesThePodsVmNetworkCgroupsAndMounts() throws Exception {
    // What a killed shim left: its run directory, with the records it wrote for this moment.
    Files.createDirectories(runDir.resolve("mounts/web"));
    Files.writeString(runDir.resolve("netns"), "/var/run/netns/cni-1234\n");
    Files.writeString(runDir.resolve("cgroups"), "/sys/fs/cgroup/kubepods/pod1\n");

    Pod.cleanup(context("web"), host);
    assertEquals(
        List.of(
            "unmount-all " + bundle("web").resolve("rootfs"),
            "unmount-all " + runDir.resolve("shared/web"),
            "unmount-all " + runDir.resolve("mounts/web")),
        host.calls,
        "a container's cleanup touches only that container");
    assertFalse(Files.exists(runDir.resolve("mounts/web")));

    host.calls.clear();
    Pod.cleanup(context(POD), host);
    assertEquals(
        List.of(
            "kill-using " + runDir,
            "unmount-all " + bundle(POD).resolve("rootfs"),
            "network-detach-all /var/run/netns/cni-1234",
            "cgroup-remove /sys/fs/cgroup/kubepods/pod1",
            "unmount-all " + runDir),
        host.calls);
    assertFalse(Files.exists(runDir));
  }

  @Test
  void aDeadShimsCleanupRefusesIdsThatLeaveTheRunRoot() {
    var evil = new ShimContext("k8s.io", "../../etc", POD, tmp, "", "", false);
    assertThrows(IllegalArgumentException.class, () -> Pod.cleanup(evil, host));
    var evilNs = new ShimContext("../..", POD, POD, tmp, "", "", false);
    assertThrows(IllegalArgumentException.class, () -> Pod.cleanup(evilNs, host));
    assertTrue(host.calls("kill-using").isEmpty(), host.calls.toString());
  }
}
