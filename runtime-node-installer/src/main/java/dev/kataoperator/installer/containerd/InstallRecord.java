package dev.kataoperator.installer.containerd;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * What an install added to the main config beyond the runtime handlers themselves, so uninstall
 * removes exactly that. Kept as one comment line in what we own (the drop-in, or the managed block
 * in the main config), so it lives and dies with our change and needs no state file.
 *
 * @param createdFile the main config did not exist; uninstall deletes it if nothing else was added
 * @param createdImportsKey the {@code imports} key was ours; uninstall drops it once it is empty
 * @param addedVersion we put {@code version = 2} first in an empty main config
 * @param addedNewline the main config did not end in a newline; the block added one
 */
record InstallRecord(
    boolean createdFile, boolean createdImportsKey, boolean addedVersion, boolean addedNewline) {

  static final InstallRecord NONE = new InstallRecord(false, false, false, false);

  private static final String PREFIX = "# kata-operator-record:";
  private static final Pattern LINE = Pattern.compile("(?m)^" + Pattern.quote(PREFIX) + "(.*)$");

  String line() {
    return PREFIX
        + " created-file="
        + createdFile
        + " created-imports-key="
        + createdImportsKey
        + " added-version="
        + addedVersion
        + " added-newline="
        + addedNewline;
  }

  /** The record in {@code text} (our drop-in or block), if it has one. */
  static Optional<InstallRecord> find(String text) {
    var m = LINE.matcher(text);
    if (!m.find()) {
      return Optional.empty();
    }
    String flags = " " + m.group(1).strip() + " ";
    return Optional.of(
        new InstallRecord(
            flags.contains(" created-file=true "),
            flags.contains(" created-imports-key=true "),
            flags.contains(" added-version=true "),
            flags.contains(" added-newline=true ")));
  }
}
