package dev.kataoperator.shim.containerd;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import java.util.Optional;

/**
 * Reads the runtime options containerd passes to the shim (in CreateTaskRequest.options, on start's
 * stdin before 2.3, as a bootstrap extension since 2.3): CRI sends runtimeoptions.v1.Options for
 * non-runc runtimes (ConfigPath or inline ConfigBody), or containerd.runc.v1.Options when a runtime
 * is configured with runc's options type.
 */
public final class RuntimeOptions {
  static final String RUNTIME_OPTIONS_TYPE = "runtimeoptions.v1.Options";
  static final String RUNC_OPTIONS_TYPE = "containerd.runc.v1.Options";

  private RuntimeOptions() {}

  /** The runtime configuration file path, when the options name one. */
  public static Optional<String> configPath(Any options) {
    return runtimeOptions(options)
        .map(dev.kataoperator.shim.containerd.api.runtimeoptions.Options::getConfigPath)
        .filter(p -> !p.isEmpty());
  }

  /** The inline TOML configuration (CRI's ConfigBody), when given instead of a path. */
  public static Optional<byte[]> configBody(Any options) {
    return runtimeOptions(options)
        .filter(o -> o.getConfigPath().isEmpty() && !o.getConfigBody().isEmpty())
        .map(o -> o.getConfigBody().toByteArray());
  }

  /** The options as runtimeoptions.v1.Options, if that is their type. */
  public static Optional<dev.kataoperator.shim.containerd.api.runtimeoptions.Options>
      runtimeOptions(Any options) {
    if (options == null || !typeName(options).equals(RUNTIME_OPTIONS_TYPE)) {
      return Optional.empty();
    }
    try {
      return Optional.of(
          dev.kataoperator.shim.containerd.api.runtimeoptions.Options.parseFrom(
              options.getValue()));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("malformed " + RUNTIME_OPTIONS_TYPE + ": " + e, e);
    }
  }

  /** The options as containerd.runc.v1.Options, if that is their type. */
  public static Optional<dev.kataoperator.shim.containerd.api.runc.Options> runcOptions(
      Any options) {
    if (options == null || !typeName(options).equals(RUNC_OPTIONS_TYPE)) {
      return Optional.empty();
    }
    try {
      return Optional.of(
          dev.kataoperator.shim.containerd.api.runc.Options.parseFrom(options.getValue()));
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalArgumentException("malformed " + RUNC_OPTIONS_TYPE + ": " + e, e);
    }
  }

  /**
   * The message name of a type URL: "x/y/runtimeoptions.v1.Options" to "runtimeoptions.v1.Options".
   */
  static String typeName(Any any) {
    String url = any.getTypeUrl();
    return url.substring(url.lastIndexOf('/') + 1);
  }
}
