package dev.kataoperator.shim.network;

import java.util.List;

/** Runs one command (ip, tc) inside a network namespace. */
interface NetnsRunner {
  /**
   * Runs {@code argv} in the namespace and returns its standard output.
   *
   * @throws NetworkException COMMAND_FAILED with the command and its stderr when it exits non-zero
   *     or times out; NETNS_UNAVAILABLE when the namespace cannot be entered
   */
  String run(List<String> argv);
}
