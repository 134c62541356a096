package dev.kataoperator.installer.flow;

import dev.kataoperator.installer.cri.CriClient;
import dev.kataoperator.installer.cri.CriException;
import dev.kataoperator.installer.cri.CriView;
import dev.kataoperator.installer.flow.InstallerException.Kind;
import dev.kataoperator.installer.host.Native;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * Waits (bounded) until containerd's CRI answers and serves what was asked for: every wanted
 * handler with its runtime type and config, none of the unwanted ones, and, after a restart that
 * replaces the process, from a new process (a config that was written but never loaded is what this
 * catches: containerd still answers, from the old process).
 */
final class CriVerifier {
  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration POLL = Duration.ofMillis(500);

  /** A handler containerd must serve: its runtime type and the shim config it passes. */
  record Wanted(String runtimeType, String configPath) {}

  private final Path socketHere;

  /**
   * @param socketHere containerd's CRI socket, as reached from here
   */
  CriVerifier(Path socketHere) {
    this.socketHere = socketHere;
  }

  /** The pid serving the socket now, if anyone does. */
  OptionalLong servingPid() {
    try {
      return OptionalLong.of(Native.peerCredentials(socketHere).pid());
    } catch (IOException e) {
      return OptionalLong.empty();
    }
  }

  /** What containerd serves now, if it answers. */
  Optional<CriView> view() {
    try (CriClient cri = CriClient.open(socketHere)) {
      return Optional.of(CriView.of(cri.status(CALL_TIMEOUT)));
    } catch (CriException e) {
      return Optional.empty();
    }
  }

  /** Why {@code view} is not what is wanted, or empty when it is. */
  static Optional<String> mismatch(CriView view, Map<String, Wanted> present, Set<String> absent) {
    List<String> problems = new ArrayList<>();
    if (!view.runtimeReady()) {
      problems.add("containerd's runtime is not ready (" + view.notReadyReason() + ")");
    }
    for (var e : present.entrySet()) {
      CriView.Handler h = view.handlers().get(e.getKey());
      if (h == null) {
        problems.add("containerd does not serve runtime handler " + e.getKey());
      } else if (!h.runtimeType().equals(e.getValue().runtimeType())) {
        problems.add(
            "runtime handler "
                + e.getKey()
                + " has runtime type "
                + h.runtimeType()
                + ", not "
                + e.getValue().runtimeType());
      } else if (!h.configPath().equals(Optional.of(e.getValue().configPath()))) {
        problems.add(
            "runtime handler "
                + e.getKey()
                + " has ConfigPath "
                + h.configPath().orElse("(none)")
                + ", not "
                + e.getValue().configPath());
      }
    }
    for (String name : absent) {
      if (view.handlers().containsKey(name)) {
        problems.add("containerd still serves runtime handler " + name);
      }
    }
    return problems.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", problems));
  }

  /**
   * Waits until containerd serves {@code present} and none of {@code absent}, from a process other
   * than {@code oldPid} when given.
   *
   * @throws InstallerException VERIFY, with the last thing that was wrong
   */
  CriView await(
      Map<String, Wanted> present, Set<String> absent, OptionalLong oldPid, Duration timeout)
      throws InstallerException {
    long deadline = System.nanoTime() + timeout.toNanos();
    String last = "no answer yet";
    while (true) {
      try {
        Native.PeerCredentials peer = Native.peerCredentials(socketHere);
        if (peer.uid() != 0) {
          last = "the CRI socket is served by uid " + peer.uid() + ", not root";
        } else if (oldPid.isPresent() && peer.pid() == oldPid.getAsLong()) {
          last =
              "containerd still runs as pid "
                  + peer.pid()
                  + ": the restart did not replace it, so it never loaded the new config";
        } else {
          try (CriClient cri = CriClient.open(socketHere)) {
            CriView v = CriView.of(cri.status(CALL_TIMEOUT));
            Optional<String> m = mismatch(v, present, absent);
            if (m.isEmpty()) {
              return v;
            }
            last = m.get();
          } catch (CriException e) {
            last = e.getMessage();
          }
        }
      } catch (IOException e) {
        last = "containerd does not answer (" + e.getMessage() + ")";
      }
      if (System.nanoTime() > deadline) {
        throw new InstallerException(Kind.VERIFY, "after " + timeout.toSeconds() + " s: " + last);
      }
      try {
        Thread.sleep(POLL);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InstallerException(Kind.STOPPED, "interrupted while waiting for containerd");
      }
    }
  }
}
