package dev.kataoperator.shim.cli;

import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** One short line per message on stderr: "kata-run: message". */
final class CliLogging {
  private CliLogging() {}

  static void configure(String program, Level level) {
    LogManager.getLogManager().reset();
    var handler = new ConsoleHandler(); // writes to System.err
    handler.setLevel(level);
    handler.setFormatter(
        new Formatter() {
          @Override
          public String format(LogRecord r) {
            return program + ": " + formatMessage(r) + System.lineSeparator();
          }
        });
    Logger root = Logger.getLogger("");
    root.setLevel(level);
    root.addHandler(handler);
  }
}
