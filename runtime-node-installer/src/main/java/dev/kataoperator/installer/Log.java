package dev.kataoperator.installer;

import dev.kataoperator.contract.LogLevel;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Locale;
import java.util.logging.ConsoleHandler;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * The installer's log: one line per event on stderr (what {@code kubectl logs} shows), with a UTC
 * timestamp and level. Libraries (fabric8, gRPC) log through java.util.logging at warning and above
 * only.
 */
public final class Log {
  private static volatile LogLevel level = LogLevel.info;
  private static volatile PrintStream out = System.err;

  private Log() {}

  public static void configure(LogLevel l) {
    level = l;
    System.setProperty(
        "java.util.logging.SimpleFormatter.format", "%1$tFT%1$tT.%1$tLZ %4$-5s %3$s: %5$s%6$s%n");
    Logger root = Logger.getLogger("");
    for (var h : root.getHandlers()) {
      root.removeHandler(h);
    }
    ConsoleHandler h = new ConsoleHandler();
    h.setFormatter(new SimpleFormatter());
    Level jul = l == LogLevel.debug ? Level.INFO : Level.WARNING;
    h.setLevel(jul);
    root.addHandler(h);
    root.setLevel(jul);
    // Netty warns that unix sockets have no SO_KEEPALIVE, which gRPC sets on every channel.
    Logger.getLogger("io.grpc.netty.shaded.io.netty.bootstrap.Bootstrap").setLevel(Level.SEVERE);
  }

  public static void debug(String message) {
    write(LogLevel.debug, message);
  }

  public static void info(String message) {
    write(LogLevel.info, message);
  }

  public static void warn(String message) {
    write(LogLevel.warn, message);
  }

  public static void error(String message) {
    write(LogLevel.error, message);
  }

  /** One step of the flow: its name, how long it took, and what it did (or why it failed). */
  public static void step(String step, Duration took, boolean ok, String what) {
    write(
        ok ? LogLevel.info : LogLevel.error,
        "step "
            + step
            + (ok ? " done" : " FAILED")
            + " in "
            + String.format(Locale.ROOT, "%.2f", took.toMillis() / 1000.0)
            + " s: "
            + what);
  }

  private static void write(LogLevel l, String message) {
    if (l.ordinal() < level.ordinal()) {
      return;
    }
    String line =
        Instant.now().truncatedTo(ChronoUnit.MILLIS)
            + " "
            + String.format(Locale.ROOT, "%-5s", l.name().toUpperCase(Locale.ROOT))
            + " "
            + message.replace('\n', ' ');
    PrintStream o = out;
    synchronized (o) {
      o.println(line);
      o.flush();
    }
  }
}
