package dev.kataoperator.shim.containerd;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The shim's command line, as containerd 1.6-2.3 builds it and Go's flag package parses it: {@code
 * [-namespace ns] [-address addr] [-publish-binary path] [-id id] [-bundle path] [-debug] [-v]
 * [-info] action [args]}. Flags take "-x v", "-x=v", "--x v"; parsing stops at the first non-flag
 * (the action: start or delete).
 */
public record ShimFlags(
    String namespace,
    String address,
    String publishBinary,
    String id,
    String bundle,
    boolean debug,
    boolean version,
    boolean info,
    String action,
    List<String> rest) {

  private static final Set<String> VALUED =
      Set.of("namespace", "address", "publish-binary", "id", "bundle");
  private static final Set<String> BOOLEAN = Set.of("debug", "v", "version", "info");

  public static ShimFlags parse(String[] args) {
    String namespace = "";
    String address = "";
    String publishBinary = "";
    String id = "";
    String bundle = "";
    boolean debug = false;
    boolean version = false;
    boolean info = false;
    int i = 0;
    while (i < args.length) {
      String a = args[i];
      if (a.equals("--")) {
        i++;
        break;
      }
      if (!a.startsWith("-") || a.equals("-")) {
        break;
      }
      String name = a.startsWith("--") ? a.substring(2) : a.substring(1);
      String value = null;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      }
      i++;
      if (BOOLEAN.contains(name)) {
        boolean b = value == null || Boolean.parseBoolean(value) || value.equals("1");
        switch (name) {
          case "debug" -> debug = b;
          case "v", "version" -> version = b;
          default -> info = b;
        }
        continue;
      }
      if (!VALUED.contains(name)) {
        throw new IllegalArgumentException("flag provided but not defined: -" + name);
      }
      if (value == null) {
        if (i >= args.length) {
          throw new IllegalArgumentException("flag needs an argument: -" + name);
        }
        value = args[i++];
      }
      switch (name) {
        case "namespace" -> namespace = value;
        case "address" -> address = value;
        case "publish-binary" -> publishBinary = value;
        case "id" -> id = value;
        default -> bundle = value;
      }
    }
    String action = i < args.length ? args[i++] : "";
    List<String> rest = new ArrayList<>();
    while (i < args.length) {
      rest.add(args[i++]);
    }
    return new ShimFlags(
        namespace,
        address,
        publishBinary,
        id,
        bundle,
        debug,
        version,
        info,
        action,
        List.copyOf(rest));
  }
}
