package dev.kataoperator.shim.config;

import java.nio.file.Path;

/** A runtime configuration file is unreadable or invalid; the message names file and fix. */
public class ConfigException extends RuntimeException {
  public ConfigException(Path file, String message) {
    super("config " + file + ": " + message);
  }
}
