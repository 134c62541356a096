package dev.kataoperator.installer.payload;

import dev.kataoperator.contract.Hypervisor;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.installer.payload.PayloadException.Kind;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;

/**
 * The shim configuration of one runtime class ({@code share/defaults/<class>.toml}): the
 * hypervisor's template from the payload with the accelerator the host check chose written out
 * ({@code kvm} or {@code tcg}, never {@code auto}: the node's decision is made once, here, and
 * shows in the file), and {@code [runtime] debug} following the KataConfig's log level. Every other
 * byte of the template is kept, so relative paths still resolve against the directory.
 *
 * @param runtimeClass the class (and file) name
 * @param hypervisor which template
 * @param accel the accelerator
 * @param debug the shim's debug logging
 * @param why one line: why this accelerator (written into the file's header)
 */
public record ClassConfig(
    String runtimeClass, Hypervisor hypervisor, Accel accel, boolean debug, String why) {

  /** The accelerators a config names explicitly. */
  public enum Accel {
    kvm,
    tcg
  }

  /** The file's name in {@code share/defaults/}. */
  public String fileName() {
    return PayloadLayout.configFile(runtimeClass);
  }

  /** The template's name in {@code share/defaults/}. */
  public String templateName() {
    return PayloadLayout.configTemplate(hypervisor);
  }

  /** The file's content, from the template's text. */
  public String render(String template) throws PayloadException {
    String text = template;
    text = setKey(text, "hypervisor", "accel", "\"" + accel.name() + "\"", true);
    if (debug || has(text, "runtime", "debug")) {
      text = setKey(text, "runtime", "debug", Boolean.toString(debug), false);
    }
    String header =
        "# Runtime class "
            + runtimeClass
            + ": written by kata-operator's runtime-node-installer from "
            + templateName()
            + "; rewritten on every install, do not edit.\n# accel = \""
            + accel.name()
            + "\": "
            + why.replace('\n', ' ')
            + "\n";
    String out = header + text;
    TomlParseResult r = Toml.parse(out);
    if (r.hasErrors()) {
      throw new PayloadException(
          Kind.BAD_TEMPLATE, templateName() + " does not parse after editing: " + r.errors());
    }
    if (!accel.name().equals(r.getString(List.of("hypervisor", "accel")))) {
      throw new PayloadException(
          Kind.BAD_TEMPLATE, "hypervisor.accel did not end up in " + fileName());
    }
    return out;
  }

  private static boolean has(String text, String table, String key) {
    TomlParseResult r = Toml.parse(text);
    return !r.hasErrors() && r.contains(List.of(table, key));
  }

  /**
   * {@code text} with {@code table.key = value}: the key's line replaced where it is, else a line
   * added under the table's header, else (when allowed) a new table at the end.
   */
  private String setKey(String text, String table, String key, String value, boolean tableRequired)
      throws PayloadException {
    TomlParseResult r = Toml.parse(text);
    if (r.hasErrors()) {
      throw new PayloadException(
          Kind.BAD_TEMPLATE, templateName() + " is not valid TOML: " + r.errors().getFirst());
    }
    String line = key + " = " + value;
    if (r.contains(List.of(table, key))) {
      int n = r.inputPositionOf(List.of(table, key)).line();
      int start = lineStart(text, n);
      int end = text.indexOf('\n', start);
      end = end < 0 ? text.length() : end;
      if (!text.substring(start, end).strip().startsWith(key)) {
        throw new PayloadException(
            Kind.BAD_TEMPLATE,
            templateName() + ": " + table + "." + key + " must be on its own line to be set");
      }
      return text.substring(0, start) + line + text.substring(end);
    }
    Matcher header =
        Pattern.compile("(?m)^\\[" + Pattern.quote(table) + "\\][ \\t]*(#.*)?$").matcher(text);
    if (header.find()) {
      int eol = text.indexOf('\n', header.end());
      return eol < 0
          ? text + "\n" + line + "\n"
          : text.substring(0, eol + 1) + line + "\n" + text.substring(eol + 1);
    }
    if (tableRequired) {
      throw new PayloadException(
          Kind.BAD_TEMPLATE, templateName() + " has no [" + table + "] table");
    }
    return text + (text.endsWith("\n") ? "" : "\n") + "\n[" + table + "]\n" + line + "\n";
  }

  private static int lineStart(String text, int line) {
    int i = 0;
    for (int l = 1; l < line; l++) {
      i = text.indexOf('\n', i) + 1;
    }
    return i;
  }

  @Override
  public String toString() {
    return runtimeClass + " (" + hypervisor + ", " + accel.name().toUpperCase(Locale.ROOT) + ")";
  }
}
