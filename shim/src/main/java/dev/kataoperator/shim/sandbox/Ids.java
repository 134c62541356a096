package dev.kataoperator.shim.sandbox;

import java.util.regex.Pattern;

/** Ids that end up in paths, QEMU options and guest bundles are checked once, here. */
public final class Ids {
  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");

  private Ids() {}

  /** Returns {@code id} when it is safe as a single path component, else throws. */
  public static String requireValid(String what, String id) {
    if (id == null || !VALID.matcher(id).matches() || id.contains("..")) {
      throw new IllegalArgumentException(
          what
              + " '"
              + id
              + "' is invalid: use 1-128 of [A-Za-z0-9_.-], starting with a letter or digit");
    }
    return id;
  }
}
