package dev.kataoperator.shim.pod;

import com.google.protobuf.Any;
import dev.kataoperator.agent.v1.ExecProcessRequest;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.containerd.TaskBackend;
import dev.kataoperator.shim.containerd.TaskBackend.Exit;
import dev.kataoperator.shim.containerd.io.ProcessIo;
import dev.kataoperator.shim.errors.ShimException;
import dev.kataoperator.shim.sandbox.GuestProcess;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.sandbox.Timeline;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A container's init process (exec id "") or an exec, in the pod's VM: starts it through the agent,
 * pumps its stdio, and reports its exit. Its pid, for containerd, is the VM's (QEMU's) host pid, as
 * Kata reports it: containerd and the CRI use task pids to find namespaces on the host, and the
 * pod's network namespace is QEMU's.
 */
final class PodProcess implements TaskBackend.Process {
  private static final System.Logger LOG = System.getLogger(PodProcess.class.getName());

  /** How long a lost agent connection may precede QEMU's exit being noticed. */
  private static final Duration VM_EXIT_GRACE = Duration.ofSeconds(5);

  private static final int SIGKILL = 9;

  private final Pod pod;
  private final PodContainer container;
  private final String execId;
  private final ProcessIo io;
  private final Any execSpec;
  private volatile GuestProcess guest;
  private volatile Thread stdout;
  private volatile Thread stderr;
  private volatile Exit exit;

  PodProcess(Pod pod, PodContainer container, String execId, ProcessIo io, Any execSpec) {
    this.pod = pod;
    this.container = container;
    this.execId = execId;
    this.io = io;
    this.execSpec = execSpec;
  }

  @Override
  public int pid() {
    return pod.vmPid();
  }

  @Override
  public int start() {
    Sandbox sb = pod.running();
    String id = container.id();
    if (execId.isEmpty()) {
      guest = new GuestProcess(sb.agent(), id, "");
      pumpOutput();
      sb.agent().startContainer(id);
      pod.timeline().mark(Timeline.STARTED, id);
    } else {
      sb.agent()
          .execProcess(
              ExecProcessRequest.newBuilder()
                  .setContainerId(id)
                  .setExecId(execId)
                  .setProcessJson(execSpec.getValue())
                  .setTerminal(io.terminal())
                  .setStdin(io.stdin().isPresent())
                  .build());
      guest = new GuestProcess(sb.agent(), id, execId);
      pumpOutput();
    }
    io.stdin().ifPresent(in -> guest.pumpStdin(in));
    return pid();
  }

  private void pumpOutput() {
    stdout = io.stdout().map(out -> guest.pumpStdout(out)).orElse(null);
    stderr = io.stderr().map(err -> guest.pumpStderr(err)).orElse(null);
  }

  /**
   * The process's exit; {@link Pod#VM_DIED_STATUS} for every process once the VM is gone, so that
   * containerd gets a TaskExit for each and the pod can be deleted. Either way the output pumps end
   * (their reads fail with the agent connection) and containerd's stdout/stderr get their EOF.
   */
  @Override
  public Exit await() throws InterruptedException {
    Sandbox sb = pod.sandbox();
    int status;
    try {
      status = guest.waitFor();
    } catch (AgentException e) {
      if (e.kind() != ShimException.Kind.UNAVAILABLE || sb == null) {
        throw e;
      }
      // The agent connection is gone and is never made again: the process is lost with its VM.
      // QEMU's exit may be noticed a moment after the socket closed; wait for it, for the log.
      boolean exited = awaitVmExit(sb);
      LOG.log(
          pod.killed() ? Level.INFO : Level.WARNING,
          "pod "
              + pod.id()
              + ": "
              + describe()
              + (exited ? " ended with its VM" : " lost with the agent connection (the VM runs on)")
              + "; reporting exit status "
              + Pod.VM_DIED_STATUS);
      status = Pod.VM_DIED_STATUS;
    } finally {
      // Output the process wrote before it exited must reach containerd before the exit does.
      for (Thread t : new Thread[] {stdout, stderr}) {
        if (t != null) {
          t.join(Duration.ofSeconds(10));
        }
      }
      io.stdout().ifPresent(PodProcess::closeQuietly);
      io.stderr().ifPresent(PodProcess::closeQuietly);
    }
    if (execId.isEmpty()) {
      pod.timeline().mark(Timeline.EXITED, container.id());
    }
    exit = new Exit(pid(), status, Instant.now());
    return exit;
  }

  private static boolean awaitVmExit(Sandbox sb) throws InterruptedException {
    try {
      sb.vm().exited().get(VM_EXIT_GRACE.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (ExecutionException | TimeoutException e) {
      return sb.vm().exited().isDone();
    }
  }

  @Override
  public void kill(int signal, boolean all) {
    Sandbox sb = pod.sandbox();
    if (Pod.gone(sb)) {
      return; // gone with the VM: containerd treats killing a dead process as done
    }
    if (signal == SIGKILL && execId.isEmpty() && container.id().equals(pod.id())) {
      pod.kill();
      return;
    }
    try {
      sb.agent().signal(container.id(), execId, signal, all);
    } catch (AgentException e) {
      if (e.kind() != ShimException.Kind.NOT_FOUND && !Pod.gone(sb)) {
        throw e;
      }
      // Already exited, or gone with the VM: containerd treats killing a dead process as done.
    }
  }

  @Override
  public Exit delete() {
    Exit e = exit != null ? exit : new Exit(pid(), 0, Instant.now());
    if (execId.isEmpty()) {
      container.remove();
    }
    return e;
  }

  @Override
  public void resizePty(int width, int height) {
    pod.running().agent().resizeTerminal(container.id(), execId, height, width);
  }

  @Override
  public void closeStdin() {
    // The stdin pump closes the guest's stdin when containerd's side ends; nothing more to do.
  }

  private String describe() {
    return execId.isEmpty()
        ? "container " + container.id()
        : "exec " + container.id() + "/" + execId;
  }

  private static void closeQuietly(OutputStream out) {
    try {
      out.close();
    } catch (IOException e) {
      // the reader went away
    }
  }
}
