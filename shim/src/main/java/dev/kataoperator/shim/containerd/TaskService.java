package dev.kataoperator.shim.containerd;

import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import com.google.protobuf.Timestamp;
import dev.kataoperator.shim.containerd.api.events.TaskCreate;
import dev.kataoperator.shim.containerd.api.events.TaskDelete;
import dev.kataoperator.shim.containerd.api.events.TaskExecAdded;
import dev.kataoperator.shim.containerd.api.events.TaskExecStarted;
import dev.kataoperator.shim.containerd.api.events.TaskExit;
import dev.kataoperator.shim.containerd.api.events.TaskIO;
import dev.kataoperator.shim.containerd.api.events.TaskOOM;
import dev.kataoperator.shim.containerd.api.events.TaskPaused;
import dev.kataoperator.shim.containerd.api.events.TaskResumed;
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
import dev.kataoperator.shim.containerd.api.types.task.ProcessInfo;
import dev.kataoperator.shim.containerd.api.types.task.Status;
import dev.kataoperator.shim.containerd.io.ProcessIo;
import dev.kataoperator.shim.ttrpc.Code;
import dev.kataoperator.shim.ttrpc.ServerCall;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import dev.kataoperator.shim.ttrpc.TtrpcServer;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * containerd's Task API (containerd.task.v2.Task and containerd.task.v3.Task, same messages) on top
 * of a {@link TaskBackend}. Keeps the process table containerd's semantics need (which ids exist,
 * started, exited, paused), opens stdio, and publishes the task events in order: TaskCreate,
 * TaskStart, TaskExecAdded, TaskExecStarted, TaskExit (once per started process, after its start
 * event), TaskDelete (init only, as containerd's runc shim does), TaskPaused, TaskResumed, TaskOOM.
 *
 * <p>Errors reach containerd as ttrpc statuses: unknown container or exec NOT_FOUND, a second
 * create or exec with the same id ALREADY_EXISTS, a start of a started process or a delete of a
 * running one FAILED_PRECONDITION, empty ids INVALID_ARGUMENT, Checkpoint UNIMPLEMENTED; every
 * other failure goes through {@link Errors#toStatus}.
 */
public final class TaskService {
  private static final System.Logger LOG = System.getLogger(TaskService.class.getName());
  public static final String SERVICE_V2 = "containerd.task.v2.Task";
  public static final String SERVICE_V3 = "containerd.task.v3.Task";

  private final TaskBackend backend;
  private final EventPublisher events;
  private final String namespace;
  private final Runnable onShutdown;
  private final Map<String, Container> containers = new ConcurrentHashMap<>();
  private final AtomicBoolean shutDown = new AtomicBoolean();
  private volatile boolean shutdownAsked;
  private volatile boolean abandoned;

  private static final class Proc {
    final String containerId;
    final String execId;
    final ProcessIo io;

    /** The backend's handle; null only while Create or Exec is in progress. */
    volatile TaskBackend.Process handle;

    volatile int pid;
    volatile boolean started;
    final CompletableFuture<TaskBackend.Exit> exit = new CompletableFuture<>();

    Proc(String containerId, String execId, ProcessIo io) {
      this.containerId = containerId;
      this.execId = execId;
      this.io = io;
    }

    boolean exited() {
      return exit.isDone();
    }
  }

  private static final class Container {
    final String id;
    final Path bundle;
    final Proc init;
    final Map<String, Proc> execs = new ConcurrentHashMap<>();
    volatile TaskBackend.Container handle;
    volatile boolean paused;

    /** Its Delete is in progress. */
    volatile boolean deleting;

    Container(String id, Path bundle, Proc init) {
      this.id = id;
      this.bundle = bundle;
      this.init = init;
    }
  }

  /**
   * @param onShutdown run (on another thread) once containerd's Shutdown asked the shim to exit,
   *     and after the backend shut down
   */
  public TaskService(
      TaskBackend backend, EventPublisher events, String namespace, Runnable onShutdown) {
    this.backend = backend;
    this.events = events;
    this.namespace = namespace;
    this.onShutdown = onShutdown;
    backend.onOom(id -> events.publish(TaskOOM.newBuilder().setContainerId(id).build()));
  }

  /** Registers the v2 and v3 Task services on {@code server}. */
  public void register(TtrpcServer server) {
    for (String svc : new String[] {SERVICE_V2, SERVICE_V3}) {
      server
          .register(
              svc,
              "Create",
              CreateTaskRequest.parser(),
              (r, c) -> mapped("Create", r, () -> create(r, c)))
          .register(
              svc, "Start", StartRequest.parser(), (r, c) -> mapped("Start", r, () -> start(r)))
          .register(
              svc, "Delete", DeleteRequest.parser(), (r, c) -> mapped("Delete", r, () -> delete(r)))
          .register(
              svc, "Exec", ExecProcessRequest.parser(), (r, c) -> mapped("Exec", r, () -> exec(r)))
          .register(
              svc, "State", StateRequest.parser(), (r, c) -> mapped("State", r, () -> state(r)))
          .register(svc, "Wait", WaitRequest.parser(), (r, c) -> mapped("Wait", r, () -> await(r)))
          .register(svc, "Kill", KillRequest.parser(), (r, c) -> mapped("Kill", r, () -> kill(r)))
          .register(svc, "Pids", PidsRequest.parser(), (r, c) -> mapped("Pids", r, () -> pids(r)))
          .register(
              svc, "Pause", PauseRequest.parser(), (r, c) -> mapped("Pause", r, () -> pause(r)))
          .register(
              svc, "Resume", ResumeRequest.parser(), (r, c) -> mapped("Resume", r, () -> resume(r)))
          .register(
              svc,
              "Checkpoint",
              CheckpointTaskRequest.parser(),
              (r, c) -> mapped("Checkpoint", r, () -> checkpoint(r)))
          .register(
              svc,
              "ResizePty",
              ResizePtyRequest.parser(),
              (r, c) -> mapped("ResizePty", r, () -> resizePty(r)))
          .register(
              svc,
              "CloseIO",
              CloseIORequest.parser(),
              (r, c) -> mapped("CloseIO", r, () -> closeIo(r)))
          .register(
              svc,
              "Update",
              UpdateTaskRequest.parser(),
              (r, c) -> mapped("Update", r, () -> update(r)))
          .register(
              svc, "Stats", StatsRequest.parser(), (r, c) -> mapped("Stats", r, () -> stats(r)))
          .register(
              svc,
              "Connect",
              ConnectRequest.parser(),
              (r, c) -> mapped("Connect", r, () -> connect(r)))
          .register(
              svc,
              "Shutdown",
              ShutdownRequest.parser(),
              (r, c) -> mapped("Shutdown", r, () -> shutdown(r)));
    }
  }

  /** A handler body; may fail with anything. */
  @FunctionalInterface
  private interface Body<R> {
    R run() throws Exception;
  }

  /**
   * Runs a handler and maps its failure to containerd's status (in {@link Errors}); a failure that
   * says nothing about the request (UNKNOWN, INTERNAL) is a shim bug or a host problem and is
   * logged at WARNING with the request, since containerd only shows the message.
   */
  private static <R> R mapped(String method, Message request, Body<R> body) {
    try {
      return body.run();
    } catch (Exception | LinkageError | AssertionError e) {
      TtrpcException status = Errors.toStatus(e);
      if (Errors.unexpected(status)) {
        LOG.log(
            Level.WARNING,
            () -> method + " " + TextFormat.shortDebugString(request) + " failed: " + status,
            e);
      }
      throw status;
    }
  }

  /** Number of containers the shim still serves. */
  public int containerCount() {
    return containers.size();
  }

  CreateTaskResponse create(CreateTaskRequest r, ServerCall call) throws Exception {
    requireId(r.getId());
    if (!r.getCheckpoint().isEmpty()) {
      throw TtrpcException.unimplemented("restoring from a checkpoint is not supported");
    }
    ProcessIo.Stdio stdio =
        new ProcessIo.Stdio(r.getStdin(), r.getStdout(), r.getStderr(), r.getTerminal());
    Proc init = new Proc(r.getId(), "", ProcessIo.none());
    Container c = new Container(r.getId(), Path.of(r.getBundle()), init);
    if (containers.putIfAbsent(r.getId(), c) != null) {
      throw TtrpcException.alreadyExists("container %s", r.getId());
    }
    ProcessIo io = null;
    try {
      io = ProcessIo.open(r.getId(), namespace, stdio);
      Container withIo = new Container(r.getId(), c.bundle, new Proc(r.getId(), "", io));
      containers.put(r.getId(), withIo);
      TaskBackend.Container created =
          backend.create(
              new TaskBackend.CreateRequest(
                  r.getId(),
                  withIo.bundle,
                  r.getRootfsList(),
                  io,
                  r.hasOptions() ? Optional.of(r.getOptions()) : Optional.empty(),
                  r.getCheckpoint()));
      withIo.handle = created;
      withIo.init.handle = created.init();
      if (call.isCancelled() || shutdownAsked) {
        // containerd stopped waiting (a cancelled or timed-out RunPodSandbox): nobody will use
        // this container or delete it. Undo it, and leave if it was the pod's last. A Shutdown
        // that came while this was the last container in flight says the same, even when the
        // closed connection has not been noticed yet.
        LOG.log(
            Level.WARNING,
            "Create of {0} finished after containerd gave up on it; removing it",
            r.getId());
        try {
          created.init().delete();
        } catch (Exception e) {
          LOG.log(Level.WARNING, "removing abandoned container " + r.getId(), e);
        }
        abandoned = true;
        throw new TtrpcException(
            Code.DEADLINE_EXCEEDED,
            "container " + r.getId() + " was created after containerd stopped waiting for it");
      }
      int pid = created.init().pid();
      withIo.init.pid = pid;
      events.publish(
          TaskCreate.newBuilder()
              .setContainerId(r.getId())
              .setBundle(r.getBundle())
              .addAllRootfs(r.getRootfsList())
              .setIo(
                  TaskIO.newBuilder()
                      .setStdin(r.getStdin())
                      .setStdout(r.getStdout())
                      .setStderr(r.getStderr())
                      .setTerminal(r.getTerminal()))
              .setCheckpoint(r.getCheckpoint())
              .setPid(pid)
              .build());
      return CreateTaskResponse.newBuilder().setPid(pid).build();
    } catch (Exception | Error e) {
      containers.remove(r.getId());
      if (io != null) {
        io.close();
      }
      shutdownIfAbandoned();
      throw e;
    }
  }

  StartResponse start(StartRequest r) throws Exception {
    Proc p = proc(r.getId(), r.getExecId());
    synchronized (p) {
      if (p.started || p.exited()) {
        throw TtrpcException.failedPrecondition(
            "process %s already %s", describe(p), p.started ? "started" : "killed");
      }
      try {
        p.pid = p.handle.start();
      } catch (Exception | Error e) {
        // Nothing will ever write to this process's output: give its readers their EOF now.
        // (containerd's CRI ExecSync waited a minute for it after a failed exec.)
        p.io.close();
        throw e;
      }
      p.started = true;
    }
    if (p.execId.isEmpty()) {
      events.publish(TaskStart.newBuilder().setContainerId(p.containerId).setPid(p.pid).build());
    } else {
      events.publish(
          TaskExecStarted.newBuilder()
              .setContainerId(p.containerId)
              .setExecId(p.execId)
              .setPid(p.pid)
              .build());
    }
    // A virtual thread: the wait parks on the agent's answer, so processes that run for long
    // (every exec of a probe, every container) cost no OS thread each.
    Thread.ofVirtual().name("await " + describe(p)).start(() -> awaitExit(p));
    return StartResponse.newBuilder().setPid(p.pid).build();
  }

  private void awaitExit(Proc p) {
    TaskBackend.Exit exit;
    try {
      exit = p.handle.await();
    } catch (Exception e) {
      LOG.log(Level.WARNING, "waiting for " + describe(p) + " failed; reporting it as exited", e);
      exit = new TaskBackend.Exit(p.pid, 255, Instant.now());
    }
    exited(p, exit);
  }

  /** Publishes {@code p}'s exit and answers its waiters. */
  private void exited(Proc p, TaskBackend.Exit exit) {
    events.publish(
        TaskExit.newBuilder()
            .setContainerId(p.containerId)
            .setId(p.execId.isEmpty() ? p.containerId : p.execId)
            .setPid(exit.pid())
            .setExitStatus(exit.status())
            .setExitedAt(timestamp(exit.exitedAt()))
            .build());
    p.exit.complete(exit);
  }

  DeleteResponse delete(DeleteRequest r) throws Exception {
    Proc p = proc(r.getId(), r.getExecId());
    if (p.started && !p.exited()) {
      throw TtrpcException.failedPrecondition("cannot delete running process %s", describe(p));
    }
    // Deleting a container (its init), as opposed to an exec: in flight until it is gone.
    Container deleting = p.execId.isEmpty() ? containers.get(p.containerId) : null;
    if (deleting != null) {
      deleting.deleting = true;
    }
    TaskBackend.Exit exit;
    try {
      exit = p.handle.delete();
    } catch (Exception | Error e) {
      if (deleting != null) {
        deleting.deleting = false;
      }
      throw e;
    }
    if (p.exited()) {
      exit = p.exit.getNow(exit);
    }
    p.io.close();
    if (p.execId.isEmpty()) {
      Container c = containers.remove(p.containerId);
      if (c != null) {
        c.execs.values().forEach(e -> e.io.close());
      }
      events.publish(
          TaskDelete.newBuilder()
              .setContainerId(p.containerId)
              .setPid(exit.pid())
              .setExitStatus(exit.status())
              .setExitedAt(timestamp(exit.exitedAt()))
              .build());
      shutdownIfAbandoned();
    } else {
      container(p.containerId).execs.remove(p.execId);
    }
    return DeleteResponse.newBuilder()
        .setPid(exit.pid())
        .setExitStatus(exit.status())
        .setExitedAt(timestamp(exit.exitedAt()))
        .build();
  }

  Empty exec(ExecProcessRequest r) throws Exception {
    Container c = container(r.getId());
    requireId(r.getExecId());
    ProcessIo.Stdio stdio =
        new ProcessIo.Stdio(r.getStdin(), r.getStdout(), r.getStderr(), r.getTerminal());
    Proc placeholder = new Proc(r.getId(), r.getExecId(), ProcessIo.none());
    if (c.execs.putIfAbsent(r.getExecId(), placeholder) != null) {
      throw TtrpcException.alreadyExists("exec %s in container %s", r.getExecId(), r.getId());
    }
    if (c.init.exited()) {
      c.execs.remove(r.getExecId());
      throw TtrpcException.failedPrecondition("container %s is not running", r.getId());
    }
    ProcessIo io = null;
    try {
      io = ProcessIo.open(r.getId(), namespace, stdio);
      Proc p = new Proc(r.getId(), r.getExecId(), io);
      p.handle = c.handle.exec(r.getExecId(), io, r.getSpec());
      p.pid = p.handle.pid();
      c.execs.put(r.getExecId(), p);
    } catch (Exception | Error e) {
      c.execs.remove(r.getExecId());
      if (io != null) {
        io.close();
      }
      throw e;
    }
    events.publish(
        TaskExecAdded.newBuilder().setContainerId(r.getId()).setExecId(r.getExecId()).build());
    return Empty.getDefaultInstance();
  }

  StateResponse state(StateRequest r) {
    Container c = container(r.getId());
    Proc p = proc(r.getId(), r.getExecId());
    ProcessIo.Stdio stdio = p.io.stdio();
    StateResponse.Builder b =
        StateResponse.newBuilder()
            .setId(p.execId.isEmpty() ? p.containerId : p.execId)
            .setBundle(c.bundle.toString())
            .setPid(p.pid)
            .setStdin(stdio.stdin())
            .setStdout(stdio.stdout())
            .setStderr(stdio.stderr())
            .setTerminal(stdio.terminal())
            .setExecId(p.execId);
    if (p.exited()) {
      TaskBackend.Exit exit = p.exit.join();
      b.setStatus(Status.STOPPED)
          .setExitStatus(exit.status())
          .setExitedAt(timestamp(exit.exitedAt()));
    } else if (c.paused) {
      b.setStatus(Status.PAUSED);
    } else {
      b.setStatus(p.started ? Status.RUNNING : Status.CREATED);
    }
    return b.build();
  }

  WaitResponse await(WaitRequest r) throws InterruptedException {
    Proc p = proc(r.getId(), r.getExecId());
    TaskBackend.Exit exit;
    try {
      exit = p.exit.get();
    } catch (ExecutionException e) {
      throw Errors.toStatus(e);
    }
    return WaitResponse.newBuilder()
        .setExitStatus(exit.status())
        .setExitedAt(timestamp(exit.exitedAt()))
        .build();
  }

  Empty kill(KillRequest r) throws Exception {
    Proc p = proc(r.getId(), r.getExecId());
    if (p.exited()) {
      throw TtrpcException.notFound("process %s already finished", describe(p));
    }
    if (!p.execId.isEmpty() && !p.started) {
      // As runc: an exec that never started (or failed to) has nothing to signal and will never
      // exit. containerd's CRI kills a failed exec before deleting it and, on success, waits for
      // its exit: a minute, on every `kubectl exec` of a typo, before this answer.
      throw TtrpcException.failedPrecondition("process %s not started", describe(p));
    }
    if (p.execId.isEmpty() && !p.started && r.getSignal() != 0) {
      synchronized (p) { // a Start in progress holds it: after it, this is a running process
        if (!p.started && !p.exited()) {
          killNeverStarted(p, r);
          return Empty.getDefaultInstance();
        }
      }
    }
    p.handle.kill(r.getSignal(), r.getAll());
    return Empty.getDefaultInstance();
  }

  /**
   * A container created and never (or unsuccessfully) started ends when killed, as runc's waiting
   * init does: its exit is reported at once. containerd's cleanup of a start its client gave up on
   * kills the task, waits for that exit and only then deletes; with no exit it waited a minute and
   * left the pod unknown, its VM running.
   */
  private void killNeverStarted(Proc p, KillRequest r) {
    try {
      p.handle.kill(r.getSignal(), r.getAll());
    } catch (Exception e) {
      // Not running in the guest (its start failed, or the VM is gone): ended all the same.
      LOG.log(Level.DEBUG, "kill of never-started " + describe(p) + ": " + e.getMessage());
    }
    exited(p, new TaskBackend.Exit(p.pid, 128 + r.getSignal(), Instant.now()));
  }

  PidsResponse pids(PidsRequest r) throws Exception {
    Container c = container(r.getId());
    Set<Integer> pids = new LinkedHashSet<>();
    for (Proc p : c.execs.values()) {
      if (p.started && !p.exited()) {
        pids.add(p.pid);
      }
    }
    if (c.init.started && !c.init.exited()) {
      pids.add(c.init.pid);
    }
    pids.addAll(c.handle.pids());
    PidsResponse.Builder b = PidsResponse.newBuilder();
    pids.forEach(pid -> b.addProcesses(ProcessInfo.newBuilder().setPid(pid)));
    return b.build();
  }

  Empty pause(PauseRequest r) throws Exception {
    Container c = container(r.getId());
    c.handle.pause();
    c.paused = true;
    events.publish(TaskPaused.newBuilder().setContainerId(r.getId()).build());
    return Empty.getDefaultInstance();
  }

  Empty resume(ResumeRequest r) throws Exception {
    Container c = container(r.getId());
    c.handle.resume();
    c.paused = false;
    events.publish(TaskResumed.newBuilder().setContainerId(r.getId()).build());
    return Empty.getDefaultInstance();
  }

  Empty checkpoint(CheckpointTaskRequest r) {
    throw TtrpcException.unimplemented("checkpoint is not supported by kata-qemu");
  }

  Empty resizePty(ResizePtyRequest r) throws Exception {
    Proc p = proc(r.getId(), r.getExecId());
    p.handle.resizePty(r.getWidth(), r.getHeight());
    return Empty.getDefaultInstance();
  }

  Empty closeIo(CloseIORequest r) throws Exception {
    Proc p = proc(r.getId(), r.getExecId());
    if (r.getStdin()) {
      p.io.closeStdin();
      p.handle.closeStdin();
    }
    return Empty.getDefaultInstance();
  }

  Empty update(UpdateTaskRequest r) throws Exception {
    container(r.getId()).handle.update(r.getResources(), r.getAnnotationsMap());
    return Empty.getDefaultInstance();
  }

  StatsResponse stats(StatsRequest r) throws Exception {
    return StatsResponse.newBuilder().setStats(container(r.getId()).handle.stats()).build();
  }

  ConnectResponse connect(ConnectRequest r) {
    Container c = containers.get(r.getId());
    return ConnectResponse.newBuilder()
        .setShimPid((int) ProcessHandle.current().pid())
        .setTaskPid(c == null ? 0 : c.init.pid)
        .build();
  }

  Empty shutdown(ShutdownRequest r) throws Exception {
    if (!r.getNow() && !containers.isEmpty()) {
      // Containers remain: not yet (as runc's shim). But containerd also asks right after a Create
      // or Delete it stopped waiting for (its cleanup has a 5 s deadline), while that container is
      // still being created or removed here: remember, and go once no container is left, or the
      // shim and its VM would live on with nobody to stop them.
      if (containers.values().stream().allMatch(c -> c.handle == null || c.deleting)) {
        shutdownAsked = true;
        shutdownIfAbandoned(); // the last one may have gone meanwhile
      }
      return Empty.getDefaultInstance();
    }
    exit();
    return Empty.getDefaultInstance();
  }

  /**
   * After a Create failed or was abandoned, or a Delete finished: when containerd has given up on
   * this shim (it asked it to shut down while the last containers were in flight, or its Create
   * deadline passed) and no container is left, the shim and its VM go; nobody would ever stop them
   * otherwise.
   */
  private void shutdownIfAbandoned() {
    if ((shutdownAsked || abandoned) && containers.isEmpty()) {
      LOG.log(Level.WARNING, "containerd gave up on this shim and no container is left; exiting");
      try {
        exit();
      } catch (Exception e) {
        LOG.log(Level.WARNING, "shutting down after an abandoned Create", e);
      }
    }
  }

  private void exit() throws Exception {
    if (shutDown.compareAndSet(false, true)) {
      try {
        backend.shutdown();
      } finally {
        // After this response is written: the server's graceful shutdown waits for it.
        Thread.ofVirtual().name("shim-shutdown").start(onShutdown);
      }
    }
  }

  private Container container(String id) {
    requireId(id);
    Container c = containers.get(id);
    if (c == null) {
      throw TtrpcException.notFound("container %s", id);
    }
    if (c.handle == null) {
      throw TtrpcException.failedPrecondition("container %s is still being created", id);
    }
    return c;
  }

  private Proc proc(String id, String execId) {
    Container c = container(id);
    if (execId.isEmpty()) {
      return c.init;
    }
    Proc p = c.execs.get(execId);
    if (p == null) {
      throw TtrpcException.notFound("exec %s in container %s", execId, id);
    }
    if (p.handle == null) {
      throw TtrpcException.failedPrecondition("exec %s is still being added", execId);
    }
    return p;
  }

  private static void requireId(String id) {
    if (id == null || id.isEmpty()) {
      throw new TtrpcException(Code.INVALID_ARGUMENT, "id must not be empty");
    }
  }

  private static String describe(Proc p) {
    return p.execId.isEmpty() ? p.containerId : p.containerId + "/" + p.execId;
  }

  static Timestamp timestamp(Instant t) {
    return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
  }
}
