package dev.kataoperator.contract;

/** Log levels of the installer and of the runtime it configures ({@code spec.logLevel}). */
public enum LogLevel {
  debug,
  info,
  warn,
  error;

  public static LogLevel parse(String s) {
    for (LogLevel l : values()) {
      if (l.name().equals(s)) {
        return l;
      }
    }
    throw new IllegalArgumentException("log level must be debug, info, warn or error: '" + s + "'");
  }
}
