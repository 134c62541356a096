package dev.kataoperator.installer.containerd;

import dev.kataoperator.installer.containerd.ContainerdConfigException.Kind;
import java.util.Optional;

/**
 * The runtime handlers appended to the main config itself, between marker comments, for containerd
 * 1.x: its imports replace a plugin's whole section, so a drop-in naming the CRI plugin would wipe
 * the main config's CRI settings (see docs/installer.md).
 */
final class ManagedBlock {
  static final String BEGIN = "# BEGIN kata-operator runtime handlers";
  static final String END = "# END kata-operator runtime handlers";

  private ManagedBlock() {}

  /** Where the block is: {@code start} of its BEGIN line to past its END line. */
  record Found(int start, int end, InstallRecord record) {}

  static Optional<Found> find(String text, String source) throws ContainerdConfigException {
    int b = markerLine(text, BEGIN, 0);
    if (b < 0) {
      if (markerLine(text, END, 0) >= 0) {
        throw broken(source, "an END marker without its BEGIN");
      }
      return Optional.empty();
    }
    int e = markerLine(text, END, b);
    if (e < 0) {
      throw broken(source, "a BEGIN marker without its END");
    }
    if (markerLine(text, BEGIN, b + 1) >= 0) {
      throw broken(source, "two BEGIN markers");
    }
    int eol = text.indexOf('\n', e);
    int end = eol < 0 ? text.length() : eol + 1;
    String block = text.substring(b, end);
    return Optional.of(new Found(b, end, InstallRecord.find(block).orElse(InstallRecord.NONE)));
  }

  /** {@code text} with a block holding {@code body} appended, after a blank line. */
  static String append(String text, String body, InstallRecord record) {
    String nl = ImportsEditor.newline(text);
    String prefix;
    if (text.isEmpty()) {
      prefix = "";
    } else if (text.endsWith("\n")) {
      prefix = nl;
    } else {
      prefix = nl + nl;
    }
    return text
        + prefix
        + BEGIN
        + " (written by the runtime-node-installer, removed on uninstall; do not edit)"
        + nl
        + record.line()
        + nl
        + body.replace("\n", nl)
        + END
        + nl;
  }

  /** {@code text} without the block, undoing {@link #append}. */
  static String remove(String text, Found f) {
    String before = text.substring(0, f.start());
    String after = text.substring(f.end());
    if (before.endsWith("\r\n\r\n")) {
      before = before.substring(0, before.length() - 2);
    } else if (before.endsWith("\n\n")) {
      before = before.substring(0, before.length() - 1);
    }
    if (f.record().addedNewline() && after.isEmpty()) {
      before = before.substring(0, before.length() - (before.endsWith("\r\n") ? 2 : 1));
    }
    return before + after;
  }

  private static int markerLine(String text, String marker, int from) {
    int i = from;
    while ((i = text.indexOf(marker, i)) >= 0) {
      if (i == 0 || text.charAt(i - 1) == '\n') {
        return i;
      }
      i += marker.length();
    }
    return -1;
  }

  private static ContainerdConfigException broken(String source, String what) {
    return new ContainerdConfigException(
        Kind.CONFLICT,
        source
            + " has "
            + what
            + " of the kata-operator block; restore it from the .kata-operator.bak backup or"
            + " remove the block by hand");
  }
}
