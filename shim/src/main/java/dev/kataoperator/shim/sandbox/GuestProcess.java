package dev.kataoperator.shim.sandbox;

import dev.kataoperator.agent.v1.ReadStreamResponse;
import dev.kataoperator.shim.agent.AgentClient;
import dev.kataoperator.shim.agent.AgentException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.util.function.BiFunction;

/**
 * A process in the guest (a container's init or an exec) and the pumps that move its stdio between
 * host streams and the agent.
 */
public final class GuestProcess {
  private static final System.Logger LOG = System.getLogger(GuestProcess.class.getName());
  private static final int CHUNK = 64 * 1024;

  private final AgentClient agent;
  private final String containerId;
  private final String execId;

  public GuestProcess(AgentClient agent, String containerId, String execId) {
    this.agent = agent;
    this.containerId = containerId;
    this.execId = execId;
  }

  public String containerId() {
    return containerId;
  }

  public String execId() {
    return execId;
  }

  /** Copies the guest's stdout to {@code out} until EOF, on a new thread. */
  public Thread pumpStdout(OutputStream out) {
    return pumpOut("stdout", out, (c, e) -> agent.readStdout(c, e, CHUNK));
  }

  /** Copies the guest's stderr to {@code out} until EOF, on a new thread. */
  public Thread pumpStderr(OutputStream out) {
    return pumpOut("stderr", out, (c, e) -> agent.readStderr(c, e, CHUNK));
  }

  private Thread pumpOut(
      String name, OutputStream out, BiFunction<String, String, ReadStreamResponse> read) {
    // A virtual thread: a process that prints nothing (most execs of a probe or a shell) parks
    // in the agent's read and costs no OS thread, so a thousand silent execs do not make a
    // thousand threads. A write into containerd's FIFO that blocks in the kernel (its reader
    // stalled) borrows a carrier for that long: the JDK compensates for blocking file I/O.
    return Thread.ofVirtual()
        .name(containerId + "/" + execId + "/" + name)
        .start(
            () -> {
              boolean failing = false;
              while (true) {
                ReadStreamResponse r;
                try {
                  r = read.apply(containerId, execId);
                } catch (AgentException e) {
                  // The agent connection is gone (the VM died, or the pod is being torn down):
                  // nothing more will come, which is this stream's end.
                  return;
                }
                if (!r.getData().isEmpty()) {
                  try {
                    r.getData().writeTo(out);
                    out.flush();
                    failing = false;
                  } catch (IOException e) {
                    // containerd's reader is gone: it is restarting (it reopens the FIFO when
                    // it is back, and writes succeed again) or it stopped reading for good.
                    // Keep draining the guest either way, so the process never blocks on a
                    // full pipe; this chunk is lost.
                    if (!failing) {
                      LOG.log(
                          Level.WARNING,
                          containerId
                              + "/"
                              + execId
                              + " "
                              + name
                              + ": "
                              + e.getMessage()
                              + "; dropping output until the reader is back");
                    }
                    failing = true;
                  }
                }
                if (r.getEof()) {
                  return;
                }
              }
            });
  }

  /**
   * Copies {@code in} to the guest's stdin until {@code in} ends, then closes the guest's stdin.
   * Runs on a platform daemon thread: reading a terminal or pipe may block forever, and a virtual
   * thread blocked in the kernel would hold a carrier for that long (only interactive execs have
   * one).
   */
  public Thread pumpStdin(InputStream in) {
    Thread t =
        Thread.ofPlatform()
            .daemon()
            .name(containerId + "/" + execId + "/stdin")
            .unstarted(
                () -> {
                  byte[] buf = new byte[CHUNK];
                  try {
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                      int off = 0;
                      while (off < n) {
                        off += agent.writeStdin(containerId, execId, buf, off, n - off);
                      }
                    }
                    agent.closeStdin(containerId, execId);
                  } catch (IOException e) {
                    closeGuestStdin();
                  } catch (AgentException e) {
                    // the agent connection is gone: the process's stdin went with it
                  }
                });
    t.start();
    return t;
  }

  private void closeGuestStdin() {
    try {
      agent.closeStdin(containerId, execId);
    } catch (AgentException e) {
      // the process or the agent connection is gone: so is its stdin
    }
  }

  /**
   * Blocks until the process exits; its exit code, or 128+N when killed by signal N.
   *
   * @throws AgentException with UNAVAILABLE when the agent connection is gone (the VM died)
   */
  public int waitFor() {
    return agent.waitProcess(containerId, execId);
  }

  public void signal(int signal) {
    agent.signal(containerId, execId, signal, false);
  }

  public void resize(int rows, int columns) {
    agent.resizeTerminal(containerId, execId, rows, columns);
  }
}
