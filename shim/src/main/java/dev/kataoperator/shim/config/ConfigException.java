package dev.kataoperator.shim.config;

import dev.kataoperator.shim.errors.ShimException;
import java.nio.file.Path;

/** A runtime configuration file is unreadable or invalid; the message names file and fix. */
public class ConfigException extends ShimException {
  private static final long serialVersionUID = 1L;

  public ConfigException(Path file, String message) {
    super(Kind.INVALID_ARGUMENT, "config " + file + ": " + message, null);
  }
}
