package dev.kataoperator.installer.host;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a command on the host: in the mount, UTS, IPC, network and pid namespaces of the host's init
 * ({@code nsenter -t <pid> -m -u -i -n -p --}), so the host's own binaries, libraries, systemd and
 * paths are what it sees. The command is named by the caller (systemctl, the KataConfig's restart
 * command, the payload's java); never a binary found through /proc.
 */
public final class HostExec {
  /** A small, fixed environment: nothing of the installer's pod leaks into host commands. */
  static final String PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

  private static final int OUTPUT_LIMIT = 4000;

  private final long hostPid;

  public HostExec(long hostPid) {
    this.hostPid = hostPid;
  }

  /**
   * What a command did.
   *
   * @param output stdout and stderr together, the last {@value #OUTPUT_LIMIT} characters
   */
  public record Result(List<String> command, int exit, String output) {
    public boolean ok() {
      return exit == 0;
    }

    /** {@code `cmd` exited N: last line of output}, for messages. */
    public String describe() {
      String last = output.strip();
      int nl = last.lastIndexOf('\n');
      last = nl < 0 ? last : last.substring(nl + 1);
      return "`"
          + String.join(" ", command)
          + "` exited "
          + exit
          + (last.isEmpty() ? "" : ": " + last);
    }
  }

  /** The command line that runs {@code argv} in the host's namespaces. */
  public List<String> wrap(List<String> argv) {
    List<String> cmd =
        new ArrayList<>(
            List.of("nsenter", "-t", Long.toString(hostPid), "-m", "-u", "-i", "-n", "-p", "--"));
    cmd.addAll(argv);
    return cmd;
  }

  /**
   * Runs {@code argv} on the host with stdin closed; a command still running after {@code timeout}
   * is killed and reported as exit 124 (like timeout(1)).
   */
  public Result run(List<String> argv, Duration timeout) throws IOException {
    if (argv.isEmpty()) {
      throw new IllegalArgumentException("empty command");
    }
    ProcessBuilder pb = new ProcessBuilder(wrap(argv)).redirectErrorStream(true);
    pb.environment().clear();
    pb.environment().put("PATH", PATH);
    pb.environment().put("LANG", "C");
    Process p = pb.start();
    p.getOutputStream().close();
    StringBuilder out = new StringBuilder();
    Thread reader =
        Thread.ofVirtual()
            .start(
                () -> {
                  try (var in = p.getInputStream()) {
                    byte[] buf = new byte[8192];
                    int n;
                    while ((n = in.read(buf)) > 0) {
                      synchronized (out) {
                        out.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                        if (out.length() > 2 * OUTPUT_LIMIT) {
                          out.delete(0, out.length() - OUTPUT_LIMIT);
                        }
                      }
                    }
                  } catch (IOException e) {
                    // the process is gone; what was read is kept
                  }
                });
    try {
      int exit;
      if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        exit = p.exitValue();
      } else {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
        exit = 124;
      }
      reader.join(Duration.ofSeconds(5));
      String s;
      synchronized (out) {
        s =
            out.length() > OUTPUT_LIMIT
                ? out.substring(out.length() - OUTPUT_LIMIT)
                : out.toString();
      }
      return new Result(argv, exit, s);
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + argv, e);
    }
  }
}
