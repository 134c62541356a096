package dev.kataoperator.shim.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import com.google.protobuf.StringValue;
import dev.kataoperator.shim.containerd.api.events.TaskCreate;
import dev.kataoperator.shim.containerd.api.events.TaskDelete;
import dev.kataoperator.shim.containerd.api.events.TaskExit;
import dev.kataoperator.shim.containerd.api.events.TaskStart;
import dev.kataoperator.shim.containerd.api.task.CheckpointTaskRequest;
import dev.kataoperator.shim.containerd.api.task.CloseIORequest;
import dev.kataoperator.shim.containerd.api.task.ConnectRequest;
import dev.kataoperator.shim.containerd.api.task.ConnectResponse;
import dev.kataoperator.shim.containerd.api.task.CreateTaskRequest;
import dev.kataoperator.shim.containerd.api.task.CreateTaskResponse;
import dev.kataoperator.shim.containerd.api.task.DeleteRequest;
import dev.kataoperator.shim.containerd.api.task.DeleteResponse;
import dev.kataoperator.shim.containerd.api.task.ExecProcessRequest;
import dev.kataoperator.shim.containerd.api.task.KillRequest;
import dev.kataoperator.shim.containerd.api.task.PauseRequest;
import dev.kataoperator.shim.containerd.api.task.PidsRequest;
import dev.kataoperator.shim.containerd.api.task.PidsResponse;
import dev.kataoperator.shim.containerd.api.task.ResizePtyRequest;
import dev.kataoperator.shim.containerd.api.task.ResumeRequest;
import dev.kataoperator.shim.containerd.api.task.ShutdownRequest;
import dev.kataoperator.shim.containerd.api.task.StartRequest;
import dev.kataoperator.shim.containerd.api.task.StartResponse;
import dev.kataoperator.shim.containerd.api.task.StateRequest;
import dev.kataoperator.shim.containerd.api.task.StateResponse;
import dev.kataoperator.shim.containerd.api.task.StatsRequest;
import dev.kataoperator.shim.containerd.api.task.StatsResponse;
import dev.kataoperator.shim.containerd.api.task.UpdateTaskRequest;
import dev.kataoperator.shim.containerd.api.task.WaitRequest;
import dev.kataoperator.shim.containerd.api.task.WaitResponse;
import dev.kataoperator.shim.containerd.api.types.Envelope;
import dev.kataoperator.shim.containerd.api.types.Mount;
import dev.kataoperator.shim.containerd.api.types.task.Status;
import dev.kataoperator.shim.ttrpc.Code;
import dev.kataoperator.shim.ttrpc.TtrpcClient;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import dev.kataoperator.shim.ttrpc.TtrpcServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The Task API over real ttrpc, against a fake backend: containerd's view of the shim. */
@Tag("unit")
@Timeout(60)
class TaskServiceTest {
  static final Duration T = Duration.ofSeconds(10);

  /**
   * Where background calls run: not the common pool, which has one worker on a 2-core machine, so
   * one blocked task would starve every later one.
   */
  static final java.util.concurrent.Executor BACKGROUND = Thread::startVirtualThread;

  @TempDir Path dir;
  final FakeBackend backend = new FakeBackend();
  final List<Envelope> published = new CopyOnWriteArrayList<>();
  final CountDownLatch shutdownCalled = new CountDownLatch(1);
  EventPublisher events;
  TtrpcServer server;
  TtrpcClient client;
  String service = TaskService.SERVICE_V2;

  @BeforeEach
  void setUp() throws Exception {
    events = new EventPublisher("k8s.io", published::add, Duration.ofMillis(10));
    TaskService tasks = new TaskService(backend, events, "k8s.io", shutdownCalled::countDown);
    server = new TtrpcServer();
    tasks.register(server);
    server.start(dir.resolve("shim.sock"));
    client = TtrpcClient.connect(dir.resolve("shim.sock"));
  }

  @AfterEach
  void tearDown() {
    client.close();
    server.close();
    events.close();
  }

  <R extends Message> R call(String method, Message req, Parser<R> parser) {
    return client.call(service, method, req, parser, T);
  }

  TtrpcException fails(String method, Message req) {
    return assertThrows(TtrpcException.class, () -> call(method, req, Empty.parser()));
  }

  CreateTaskResponse create(String id) {
    return call(
        "Create",
        CreateTaskRequest.newBuilder()
            .setId(id)
            .setBundle(dir.resolve(id).toString())
            .addRootfs(Mount.newBuilder().setType("overlay").setSource("overlay").addOptions("ro"))
            .build(),
        CreateTaskResponse.parser());
  }

  List<String> topics() {
    return published.stream().map(Envelope::getTopic).toList();
  }

  void awaitEvents(int n) throws InterruptedException {
    for (int i = 0; i < 500 && published.size() < n; i++) {
      Thread.sleep(10);
    }
    assertEquals(n, published.size(), "events: " + topics());
  }

  /**
   * An exec whose start fails (a missing binary) will never write its output: its FIFO readers get
   * EOF at once, and a kill of it is FAILED_PRECONDITION, as runc answers (containerd's CRI then
   * deletes it; it waited a minute for an exit that never comes when the kill succeeded).
   */
  @Test
  void aFailedStartGivesTheOutputReadersTheirEof() throws Exception {
    create("c1");
    call("Start", StartRequest.newBuilder().setId("c1").build(), StartResponse.parser());
    Path stdout = dir.resolve("e1-stdout");
    dev.kataoperator.shim.host.Native.mkfifo(stdout, 0600);
    Any spec =
        Any.newBuilder()
            .setTypeUrl("types.containerd.io/opencontainers/runtime-spec/1/Process")
            .setValue(ByteString.copyFromUtf8("{\"args\":[\"no-such-binary\"]}"))
            .build();
    // As containerd does, the reader is open before Exec: a reader opening a FIFO after its last
    // writer closed would wait forever. A placeholder writer lets that open return at once and
    // keeps the FIFO from reading as ended until the shim's own writer is open.
    var opened = new CountDownLatch(1);
    var reading = new java.util.concurrent.CompletableFuture<Integer>();
    Thread.ofVirtual()
        .start(
            () -> {
              try (var in = java.nio.file.Files.newInputStream(stdout)) {
                opened.countDown();
                reading.complete(in.readAllBytes().length);
              } catch (java.io.IOException e) {
                reading.completeExceptionally(e);
              }
            });
    try (var placeholder = new java.io.RandomAccessFile(stdout.toFile(), "rw")) {
      assertTrue(opened.await(5, TimeUnit.SECONDS), "the reader could not open the FIFO");
      call(
          "Exec",
          ExecProcessRequest.newBuilder()
              .setId("c1")
              .setExecId("e1")
              .setSpec(spec)
              .setStdout(stdout.toString())
              .build(),
          Empty.parser());
    }
    backend.failStart = new IllegalArgumentException("executable file not found");
    assertEquals(
        Code.INVALID_ARGUMENT,
        fails("Start", StartRequest.newBuilder().setId("c1").setExecId("e1").build()).code());
    assertEquals(0, reading.get(5, TimeUnit.SECONDS), "the reader got its EOF");
    assertEquals(
        Code.FAILED_PRECONDITION,
        fails("Kill", KillRequest.newBuilder().setId("c1").setExecId("e1").setSignal(9).build())
            .code());
    call(
        "Delete",
        DeleteRequest.newBuilder().setId("c1").setExecId("e1").build(),
        DeleteResponse.parser());
  }

  /**
   * containerd gives up on a Create that takes longer than its caller's deadline (a cancelled
   * RunPodSandbox); the container is undone when the Create finishes and, since nothing is left,
   * the shim shuts down: nobody would ever stop it otherwise.
   */
  @Test
  void aCreateFinishedAfterTheCallersDeadlineIsUndoneAndTheShimLeaves() throws Exception {
    backend.createTakes = Duration.ofMillis(800);
    TtrpcException e =
        assertThrows(
            TtrpcException.class,
            () ->
                client.call(
                    service,
                    "Create",
                    CreateTaskRequest.newBuilder()
                        .setId("late")
                        .setBundle(dir.resolve("late").toString())
                        .build(),
                    CreateTaskResponse.parser(),
                    Duration.ofMillis(200)));
    assertEquals(Code.DEADLINE_EXCEEDED, e.code());
    assertTrue(shutdownCalled.await(10, TimeUnit.SECONDS), "the shim did not leave");
    assertTrue(backend.calls.contains("delete late"), backend.calls.toString());
    assertTrue(backend.shutdown, "the backend (the VM) was shut down");
  }

  /**
   * Starts a Create of {@code id} that is expected to fail, in the background; returns once the
   * backend is at it (a loaded machine starts it late).
   */
  java.util.concurrent.CompletableFuture<TtrpcException> failingCreateUnderway(String id)
      throws Exception {
    var creating =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () -> assertThrows(TtrpcException.class, () -> create(id)), BACKGROUND);
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (backend.calls.stream().noneMatch(c -> c.startsWith("create " + id + " "))) {
      assertTrue(System.nanoTime() < deadline, "Create never reached the backend");
      Thread.sleep(5);
    }
    return creating;
  }

  @Test
  void aShutdownAskedDuringAFailingCreateIsHonouredOnceNothingIsLeft() throws Exception {
    backend.createTakes = Duration.ofMillis(800);
    backend.failCreate = new IllegalStateException("the VM did not boot");
    var creating = failingCreateUnderway("doomed");
    call("Shutdown", ShutdownRequest.newBuilder().setId("doomed").build(), Empty.parser());
    assertEquals(1, shutdownCalled.getCount(), "a container is still being created: not yet");
    creating.get(10, TimeUnit.SECONDS);
    assertTrue(shutdownCalled.await(10, TimeUnit.SECONDS), "the shim did not leave");
  }

  /**
   * A created container that is killed before it starts, or whose start failed, has exited, as
   * runc's waiting init: containerd's cleanup of a start its client gave up on kills, waits for
   * that exit, then deletes (a CI run waited a minute for it and left the pod's VM running).
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aContainerKilledBeforeItStartedHasExited(boolean startFailed) throws Exception {
    create("c1");
    if (startFailed) {
      backend.failStart = new IllegalStateException("crun start: container is not running");
      fails("Start", StartRequest.newBuilder().setId("c1").build());
    }
    var waiting =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () -> call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser()),
            BACKGROUND);
    call(
        "Kill",
        KillRequest.newBuilder().setId("c1").setSignal(9).setAll(true).build(),
        Empty.parser());
    assertEquals(137, waiting.get(10, TimeUnit.SECONDS).getExitStatus());
    assertEquals(
        Status.STOPPED,
        call("State", StateRequest.newBuilder().setId("c1").build(), StateResponse.parser())
            .getStatus());
    assertEquals(
        Code.FAILED_PRECONDITION,
        fails("Start", StartRequest.newBuilder().setId("c1").build()).code());
    call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    assertTrue(topics().contains("/tasks/exit"), topics().toString());
  }

  /**
   * A Shutdown while the only container is being created is containerd giving up on that Create
   * (its Delete found it still being created); when the Create then succeeds, before the closed
   * connection is noticed, the container is undone and the shim leaves.
   */
  @Test
  void aShutdownAskedDuringASucceedingCreateUndoesIt() throws Exception {
    backend.createTakes = Duration.ofMillis(800);
    var creating = failingCreateUnderway("late");
    call("Shutdown", ShutdownRequest.newBuilder().setId("late").build(), Empty.parser());
    assertEquals(Code.DEADLINE_EXCEEDED, creating.get(10, TimeUnit.SECONDS).code());
    assertTrue(shutdownCalled.await(10, TimeUnit.SECONDS), "the shim did not leave");
    assertTrue(backend.calls.contains("delete late"), backend.calls.toString());
    assertTrue(backend.shutdown, "the backend (the VM) was shut down");
  }

  /**
   * containerd's cleanup of a Create it gave up on deletes the container with a 5 s deadline and,
   * when that passes, asks for Shutdown while the Delete is still running here. Once the Delete
   * finishes the shim must go: nobody will ask again (a CI run leaked a VM this way).
   */
  @Test
  void aShutdownAskedDuringTheLastDeleteIsHonouredWhenItFinishes() throws Exception {
    create("c1");
    backend.deleteTakes = Duration.ofMillis(800);
    var deleting = deleteUnderway("c1");
    call("Shutdown", ShutdownRequest.newBuilder().setId("c1").build(), Empty.parser());
    assertEquals(1, shutdownCalled.getCount(), "the container is still being deleted: not yet");
    deleting.get(10, TimeUnit.SECONDS);
    assertTrue(shutdownCalled.await(10, TimeUnit.SECONDS), "the shim did not leave");
    assertTrue(backend.shutdown, "the backend (the VM) was shut down");
  }

  /** Starts a Delete of {@code id} in the background; returns once the backend is at it. */
  java.util.concurrent.CompletableFuture<Void> deleteUnderway(String id) throws Exception {
    var deleting =
        java.util.concurrent.CompletableFuture.runAsync(
            () ->
                call(
                    "Delete",
                    DeleteRequest.newBuilder().setId(id).build(),
                    DeleteResponse.parser()),
            BACKGROUND);
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!backend.calls.contains("delete " + id)) {
      assertTrue(System.nanoTime() < deadline, "Delete never reached the backend");
      Thread.sleep(5);
    }
    return deleting;
  }

  /** A Shutdown while an idle container remains means nothing, later either (as runc's shim). */
  @Test
  void aShutdownWhileAnIdleContainerRemainsIsNotRemembered() throws Exception {
    create("idle");
    create("c2");
    backend.deleteTakes = Duration.ofMillis(300);
    var deleting = deleteUnderway("c2");
    call("Shutdown", ShutdownRequest.newBuilder().setId("c2").build(), Empty.parser());
    deleting.get(10, TimeUnit.SECONDS);
    call("Delete", DeleteRequest.newBuilder().setId("idle").build(), DeleteResponse.parser());
    assertFalse(backend.shutdown, "the shim left without being asked once it was empty");
    assertEquals(1, shutdownCalled.getCount());
  }

  @ParameterizedTest
  @ValueSource(strings = {TaskService.SERVICE_V2, TaskService.SERVICE_V3})
  void lifecycleOfAContainerWithEventsInOrder(String svc) throws Exception {
    service = svc;
    assertEquals(100, create("c1").getPid());
    StateResponse created =
        call("State", StateRequest.newBuilder().setId("c1").build(), StateResponse.parser());
    assertEquals(Status.CREATED, created.getStatus());
    assertEquals(dir.resolve("c1").toString(), created.getBundle());

    StartResponse started =
        call("Start", StartRequest.newBuilder().setId("c1").build(), StartResponse.parser());
    assertTrue(started.getPid() > 1000);
    assertEquals(
        Status.RUNNING,
        call("State", StateRequest.newBuilder().setId("c1").build(), StateResponse.parser())
            .getStatus());

    CompletableFuture<WaitResponse> waiting =
        client.callAsync(
            service,
            "Wait",
            WaitRequest.newBuilder().setId("c1").build(),
            WaitResponse.parser(),
            T);
    Thread.sleep(50);
    assertFalse(waiting.isDone());
    backend.exit("c1", "", 7);
    WaitResponse waited = waiting.get(5, TimeUnit.SECONDS);
    assertEquals(7, waited.getExitStatus());
    assertEquals(1_700_000_000, waited.getExitedAt().getSeconds());

    StateResponse stopped =
        call("State", StateRequest.newBuilder().setId("c1").build(), StateResponse.parser());
    assertEquals(Status.STOPPED, stopped.getStatus());
    assertEquals(7, stopped.getExitStatus());

    DeleteResponse deleted =
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    assertEquals(7, deleted.getExitStatus());
    assertEquals(1000, deleted.getPid());

    awaitEvents(4);
    assertEquals(
        List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"), topics());
    Envelope create = published.get(0);
    assertEquals("k8s.io", create.getNamespace());
    assertEquals("containerd.events.TaskCreate", create.getEvent().getTypeUrl());
    TaskCreate tc = TaskCreate.parseFrom(create.getEvent().getValue());
    assertEquals("c1", tc.getContainerId());
    assertEquals(100, tc.getPid());
    assertEquals("overlay", tc.getRootfs(0).getType());
    assertEquals(
        started.getPid(), TaskStart.parseFrom(published.get(1).getEvent().getValue()).getPid());
    TaskExit exit = TaskExit.parseFrom(published.get(2).getEvent().getValue());
    assertEquals("c1", exit.getContainerId());
    assertEquals("c1", exit.getId());
    assertEquals(7, exit.getExitStatus());
    assertEquals(7, TaskDelete.parseFrom(published.get(3).getEvent().getValue()).getExitStatus());

    // Gone now.
    assertEquals(
        Code.NOT_FOUND, fails("State", StateRequest.newBuilder().setId("c1").build()).code());
    assertTrue(backend.calls.contains("delete c1"));
  }

  @Test
  void errorsAreTheCodesContainerdExpects() throws Exception {
    assertEquals(
        Code.NOT_FOUND, fails("Start", StartRequest.newBuilder().setId("nope").build()).code());
    assertEquals(
        Code.NOT_FOUND,
        fails("Kill", KillRequest.newBuilder().setId("nope").setSignal(9).build()).code());
    assertEquals(Code.INVALID_ARGUMENT, fails("State", StateRequest.newBuilder().build()).code());
    create("c1");
    assertEquals(
        Code.ALREADY_EXISTS,
        fails("Create", CreateTaskRequest.newBuilder().setId("c1").setBundle("/b").build()).code());
    assertEquals(
        Code.NOT_FOUND,
        fails("State", StateRequest.newBuilder().setId("c1").setExecId("e9").build()).code());
    call("Start", StartRequest.newBuilder().setId("c1").build(), StartResponse.parser());
    assertEquals(
        Code.FAILED_PRECONDITION,
        fails("Start", StartRequest.newBuilder().setId("c1").build()).code());
    assertEquals(
        Code.FAILED_PRECONDITION,
        fails("Delete", DeleteRequest.newBuilder().setId("c1").build()).code());
    assertEquals(
        Code.UNIMPLEMENTED,
        fails("Checkpoint", CheckpointTaskRequest.newBuilder().setId("c1").build()).code());
    create("nostats");
    assertEquals(
        Code.UNIMPLEMENTED,
        fails("Stats", StatsRequest.newBuilder().setId("nostats").build()).code());
    create("stuck");
    assertEquals(
        Code.FAILED_PRECONDITION,
        fails("Resume", ResumeRequest.newBuilder().setId("stuck").build()).code());

    // A failed create leaves nothing behind.
    backend.failCreate = new IllegalArgumentException("bad bundle");
    TtrpcException bad =
        fails("Create", CreateTaskRequest.newBuilder().setId("c2").setBundle("/b").build());
    assertEquals(Code.INVALID_ARGUMENT, bad.code());
    assertEquals("bad bundle", bad.statusMessage());
    assertEquals(
        Code.NOT_FOUND, fails("State", StateRequest.newBuilder().setId("c2").build()).code());
  }

  @Test
  void execsKillPidsAndTheRest() throws Exception {
    create("c1");
    StartResponse init =
        call("Start", StartRequest.newBuilder().setId("c1").build(), StartResponse.parser());
    Any spec =
        Any.newBuilder()
            .setTypeUrl("types.containerd.io/opencontainers/runtime-spec/1/Process")
            .setValue(ByteString.copyFromUtf8("{\"args\":[\"sh\"]}"))
            .build();
    call(
        "Exec",
        ExecProcessRequest.newBuilder().setId("c1").setExecId("e1").setSpec(spec).build(),
        Empty.parser());
    assertEquals(
        Code.ALREADY_EXISTS,
        fails(
                "Exec",
                ExecProcessRequest.newBuilder().setId("c1").setExecId("e1").setSpec(spec).build())
            .code());
    StartResponse e1 =
        call(
            "Start",
            StartRequest.newBuilder().setId("c1").setExecId("e1").build(),
            StartResponse.parser());
    StateResponse st =
        call(
            "State",
            StateRequest.newBuilder().setId("c1").setExecId("e1").build(),
            StateResponse.parser());
    assertEquals("e1", st.getId());
    assertEquals(Status.RUNNING, st.getStatus());

    PidsResponse pids =
        call("Pids", PidsRequest.newBuilder().setId("c1").build(), PidsResponse.parser());
    assertTrue(pids.getProcessesList().stream().anyMatch(p -> p.getPid() == e1.getPid()));
    assertTrue(pids.getProcessesList().stream().anyMatch(p -> p.getPid() == 4242));

    call(
        "ResizePty",
        ResizePtyRequest.newBuilder()
            .setId("c1")
            .setExecId("e1")
            .setWidth(80)
            .setHeight(24)
            .build(),
        Empty.parser());
    call(
        "CloseIO",
        CloseIORequest.newBuilder().setId("c1").setExecId("e1").setStdin(true).build(),
        Empty.parser());
    call(
        "Kill",
        KillRequest.newBuilder().setId("c1").setExecId("e1").setSignal(15).build(),
        Empty.parser());
    WaitResponse w =
        call(
            "Wait",
            WaitRequest.newBuilder().setId("c1").setExecId("e1").build(),
            WaitResponse.parser());
    assertEquals(128 + 15, w.getExitStatus());
    call(
        "Delete",
        DeleteRequest.newBuilder().setId("c1").setExecId("e1").build(),
        DeleteResponse.parser());

    call("Pause", PauseRequest.newBuilder().setId("c1").build(), Empty.parser());
    assertEquals(
        Status.PAUSED,
        call("State", StateRequest.newBuilder().setId("c1").build(), StateResponse.parser())
            .getStatus());
    call("Resume", ResumeRequest.newBuilder().setId("c1").build(), Empty.parser());
    call(
        "Update",
        UpdateTaskRequest.newBuilder().setId("c1").putAnnotations("a", "b").build(),
        Empty.parser());
    StatsResponse stats =
        call("Stats", StatsRequest.newBuilder().setId("c1").build(), StatsResponse.parser());
    assertEquals("stats of c1", stats.getStats().unpack(StringValue.class).getValue());
    ConnectResponse conn =
        call("Connect", ConnectRequest.newBuilder().setId("c1").build(), ConnectResponse.parser());
    assertEquals(ProcessHandle.current().pid(), conn.getShimPid());
    assertEquals(init.getPid(), conn.getTaskPid());

    backend.oom.accept("c1");
    awaitEvents(8);
    assertEquals(
        List.of(
            "/tasks/create",
            "/tasks/start",
            "/tasks/exec-added",
            "/tasks/exec-started",
            "/tasks/exit",
            "/tasks/paused",
            "/tasks/resumed",
            "/tasks/oom"),
        topics());
    assertTrue(
        backend.calls.containsAll(
            List.of(
                "exec c1/e1 types.containerd.io/opencontainers/runtime-spec/1/Process",
                "resize c1/e1 80x24",
                "closeStdin c1/e1",
                "kill c1/e1 15 false",
                "delete c1/e1",
                "pause c1",
                "resume c1",
                "update c1 {a=b}")),
        backend.calls.toString());
  }

  @Test
  void shutdownWaitsForTheLastContainer() throws Exception {
    create("c1");
    call("Shutdown", ShutdownRequest.newBuilder().setId("c1").build(), Empty.parser());
    assertFalse(backend.shutdown);
    assertEquals(1, shutdownCalled.getCount());
    call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    call("Shutdown", ShutdownRequest.newBuilder().setId("c1").build(), Empty.parser());
    assertTrue(backend.shutdown);
    assertTrue(shutdownCalled.await(5, TimeUnit.SECONDS));
  }

  @Test
  void shutdownNowDoesNotWait() throws Exception {
    create("c1");
    call("Shutdown", ShutdownRequest.newBuilder().setId("c1").setNow(true).build(), Empty.parser());
    assertTrue(backend.shutdown);
    assertTrue(shutdownCalled.await(5, TimeUnit.SECONDS));
  }

  @Test
  void publisherRetriesInOrder() throws Exception {
    List<String> delivered = new CopyOnWriteArrayList<>();
    int[] failures = {2};
    EventPublisher p =
        new EventPublisher(
            "ns",
            env -> {
              if (failures[0]-- > 0) {
                throw new IllegalStateException("containerd away");
              }
              delivered.add(env.getTopic());
            },
            Duration.ofMillis(5));
    p.publish(TaskStart.newBuilder().setContainerId("a").build());
    p.publish(TaskExit.newBuilder().setContainerId("a").build());
    assertTrue(p.flush(Duration.ofSeconds(5)));
    assertEquals(List.of("/tasks/start", "/tasks/exit"), delivered);
    p.close();
  }
}
