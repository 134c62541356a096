package dev.kataoperator.installer.containerd;

import dev.kataoperator.installer.containerd.ContainerdConfigException.Kind;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.tomlj.Toml;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseResult;

/**
 * Edits the top-level {@code imports} array of a containerd config as text, so every other byte
 * (comments, order, spacing) stays as it was. tomlj parses and locates; the edit itself is a
 * minimal insertion or deletion, and each pair of add and remove is an exact inverse.
 */
final class ImportsEditor {
  static final String KEY = "imports";

  private ImportsEditor() {}

  /** Parses {@code text}; a syntax error is {@link Kind#UNPARSEABLE}, naming {@code source}. */
  static TomlParseResult parse(String text, String source) throws ContainerdConfigException {
    TomlParseResult r = Toml.parse(text);
    if (r.hasErrors()) {
      var e = r.errors().getFirst();
      throw new ContainerdConfigException(
          Kind.UNPARSEABLE,
          source
              + " is not valid TOML ("
              + e.getMessage()
              + "); fix it before installing Kata, containerd cannot read it either");
    }
    return r;
  }

  /**
   * The top-level imports, empty if there is no {@code imports} key; {@link Kind#BAD_IMPORTS} if it
   * is not an array of strings.
   */
  static Optional<List<String>> imports(TomlParseResult parsed, String source)
      throws ContainerdConfigException {
    if (!parsed.keySet().contains(KEY)) {
      return Optional.empty();
    }
    Object v = parsed.get(List.of(KEY));
    if (!(v instanceof TomlArray array)) {
      throw new ContainerdConfigException(
          Kind.BAD_IMPORTS,
          source
              + ": top-level 'imports' must be an array of file paths, found "
              + describe(v)
              + "; fix it before installing Kata");
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < array.size(); i++) {
      if (!(array.get(i) instanceof String s)) {
        throw new ContainerdConfigException(
            Kind.BAD_IMPORTS,
            source
                + ": top-level 'imports' must hold only strings, element "
                + i
                + " is "
                + describe(array.get(i)));
      }
      out.add(s);
    }
    return Optional.of(out);
  }

  private static String describe(Object v) {
    return switch (v) {
      case org.tomlj.TomlTable t -> "a table";
      case TomlArray a -> "an array";
      case String s -> "a string";
      default -> "a " + v.getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT);
    };
  }

  /**
   * {@code text} with {@code entry} added to its imports: appended to an existing array, or as a
   * new {@code imports = [...]} line after the top-level {@code version} line (or first in the
   * file). Unchanged when the entry is there already.
   */
  static String add(String text, String entry, String source) throws ContainerdConfigException {
    TomlParseResult parsed = parse(text, source);
    Optional<List<String>> current = imports(parsed, source);
    if (current.isPresent() && current.get().contains(entry)) {
      return text;
    }
    String quoted = TomlStrings.quote(entry);
    if (current.isEmpty()) {
      String nl = newline(text);
      String line = KEY + " = [" + quoted + "]";
      if (parsed.keySet().contains("version")) {
        int lineStart = lineStart(text, parsed.inputPositionOf(List.of("version")).line());
        int eol = text.indexOf('\n', lineStart);
        return eol < 0
            ? text + nl + line
            : text.substring(0, eol + 1) + line + nl + text.substring(eol + 1);
      }
      return line + nl + text;
    }
    ArrayText a = locate(text, parsed, current.get().size(), source);
    if (a.elements.isEmpty()) {
      return insert(text, a.open + 1, quoted);
    }
    Element last = a.elements.getLast();
    return last.comma < 0
        ? insert(text, last.end, ", " + quoted)
        : insert(text, last.comma + 1, " " + quoted + ",");
  }

  /**
   * {@code text} without any {@code entry} in its imports, undoing {@link #add}. When {@code
   * dropEmptyKey} (we created the key) and no other entry is left, the whole {@code imports} line
   * goes too. Unchanged when the entry is not there.
   */
  static String remove(String text, String entry, boolean dropEmptyKey, String source)
      throws ContainerdConfigException {
    while (true) {
      TomlParseResult parsed = parse(text, source);
      Optional<List<String>> current = imports(parsed, source);
      if (current.isEmpty() || !current.get().contains(entry)) {
        return text;
      }
      List<String> values = current.get();
      ArrayText a = locate(text, parsed, values.size(), source);
      if (dropEmptyKey && values.stream().allMatch(entry::equals)) {
        return removeStatement(text, a);
      }
      text = removeElement(text, a, values.indexOf(entry));
    }
  }

  private static String removeElement(String text, ArrayText a, int index) {
    Element e = a.elements.get(index);
    int start;
    int end;
    if (e.comma >= 0) {
      if (text.substring(e.end, e.comma).contains("#")) {
        return cut(cut(text, e.comma, e.comma + 1), e.start, e.end);
      }
      start = e.start;
      end = e.comma + 1;
      if (end < text.length() && isBlank(text.charAt(end))) {
        while (end < text.length() && isBlank(text.charAt(end))) {
          end++;
        }
      } else {
        while (start > 0 && isBlank(text.charAt(start - 1))) {
          start--;
        }
      }
    } else if (index > 0) {
      Element prev = a.elements.get(index - 1);
      if (text.substring(prev.comma, e.start).contains("#")) {
        return cut(cut(text, e.start, e.end), prev.comma, prev.comma + 1);
      }
      start = prev.comma;
      end = e.end;
    } else {
      start = e.start;
      end = e.end;
    }
    String out = cut(text, start, end);
    // A line that held only the removed element goes entirely.
    int ls = out.lastIndexOf('\n', start - 1) + 1;
    int le = out.indexOf('\n', start);
    if (ls > a.open && le >= 0 && out.substring(ls, le).isBlank()) {
      out = cut(out, ls, le + 1);
    }
    return out;
  }

  private static String removeStatement(String text, ArrayText a) {
    int start = a.keyLineStart;
    int i = a.close + 1;
    while (i < text.length() && isBlank(text.charAt(i))) {
      i++;
    }
    if (i < text.length() && text.charAt(i) == '#') {
      while (i < text.length() && text.charAt(i) != '\n') {
        i++;
      }
    }
    int end;
    if (i < text.length()) {
      end = i + 1; // past '\n' (a CR before it was skipped as blank)
    } else {
      end = text.length();
      if (start > 0) {
        start -= start > 1 && text.startsWith("\r\n", start - 2) ? 2 : 1;
      }
    }
    return cut(text, start, end);
  }

  // --- locating the array in the text -----------------------------------------------------

  private record Element(int start, int end, int comma) {}

  private record ArrayText(int keyLineStart, int open, int close, List<Element> elements) {}

  private static ArrayText locate(String text, TomlParseResult parsed, int expected, String source)
      throws ContainerdConfigException {
    int ls = lineStart(text, parsed.inputPositionOf(List.of(KEY)).line());
    int i = ls;
    while (i < text.length() && isBlank(text.charAt(i))) {
      i++;
    }
    int keyEnd = -1;
    for (String k : List.of(KEY, "\"" + KEY + "\"", "'" + KEY + "'")) {
      if (text.startsWith(k, i)) {
        keyEnd = i + k.length();
      }
    }
    i = keyEnd < 0 ? -1 : skipBlank(text, keyEnd);
    if (i < 0 || i >= text.length() || text.charAt(i) != '=') {
      throw cannotEdit(source, "cannot find 'imports =' on line " + lineOf(text, ls));
    }
    i = skipBlank(text, i + 1);
    if (i >= text.length() || text.charAt(i) != '[') {
      throw cannotEdit(source, "the imports value does not start with '['");
    }
    int open = i++;
    List<Element> elements = new ArrayList<>();
    while (true) {
      if (i >= text.length()) {
        throw cannotEdit(source, "the imports array has no closing ']'");
      }
      char c = text.charAt(i);
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        i++;
      } else if (c == '#') {
        while (i < text.length() && text.charAt(i) != '\n') {
          i++;
        }
      } else if (c == ',') {
        if (elements.isEmpty() || elements.getLast().comma >= 0) {
          throw cannotEdit(source, "a comma without a value in the imports array");
        }
        Element last = elements.removeLast();
        elements.add(new Element(last.start, last.end, i));
        i++;
      } else if (c == ']') {
        if (elements.size() != expected) {
          throw cannotEdit(
              source, "found " + elements.size() + " imports in the text, tomlj " + expected);
        }
        return new ArrayText(ls, open, i, List.copyOf(elements));
      } else if (c == '"' || c == '\'') {
        if (!elements.isEmpty() && elements.getLast().comma < 0) {
          throw cannotEdit(source, "two imports without a comma between them");
        }
        int end = skipString(text, i);
        if (end < 0) {
          throw cannotEdit(source, "an unterminated string in the imports array");
        }
        elements.add(new Element(i, end, -1));
        i = end;
      } else {
        throw cannotEdit(source, "unexpected '" + c + "' in the imports array");
      }
    }
  }

  /** The offset just past the string starting at {@code i}, or -1 if it does not end. */
  private static int skipString(String text, int i) {
    char q = text.charAt(i);
    String triple = String.valueOf(q).repeat(3);
    boolean basic = q == '"';
    if (text.startsWith(triple, i)) {
      int j = i + 3;
      while (j < text.length()) {
        if (basic && text.charAt(j) == '\\') {
          j += 2;
        } else if (text.startsWith(triple, j)) {
          int end = j + 3;
          // Up to two quotes may end the content right before the closing delimiter.
          for (int k = 0; k < 2 && end < text.length() && text.charAt(end) == q; k++) {
            end++;
          }
          return end;
        } else {
          j++;
        }
      }
      return -1;
    }
    int j = i + 1;
    while (j < text.length()) {
      char c = text.charAt(j);
      if (c == '\n') {
        return -1;
      }
      if (basic && c == '\\') {
        j += 2;
      } else if (c == q) {
        return j + 1;
      } else {
        j++;
      }
    }
    return -1;
  }

  private static ContainerdConfigException cannotEdit(String source, String why) {
    return new ContainerdConfigException(
        Kind.BAD_IMPORTS, source + ": cannot edit the imports array in place: " + why);
  }

  // --- small text helpers --------------------------------------------------------------------

  /** The file's line ending: CRLF if it uses any, else LF. */
  static String newline(String text) {
    return text.contains("\r\n") ? "\r\n" : "\n";
  }

  /** Offset of the first character of 1-based {@code line}. */
  static int lineStart(String text, int line) {
    int off = 0;
    for (int l = 1; l < line; l++) {
      int nl = text.indexOf('\n', off);
      if (nl < 0) {
        return text.length();
      }
      off = nl + 1;
    }
    return off;
  }

  private static int lineOf(String text, int offset) {
    int line = 1;
    for (int i = 0; i < offset; i++) {
      if (text.charAt(i) == '\n') {
        line++;
      }
    }
    return line;
  }

  private static int skipBlank(String text, int i) {
    while (i < text.length() && isBlank(text.charAt(i))) {
      i++;
    }
    return i;
  }

  private static boolean isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
  }

  private static String insert(String text, int at, String s) {
    return text.substring(0, at) + s + text.substring(at);
  }

  private static String cut(String text, int start, int end) {
    return text.substring(0, start) + text.substring(end);
  }
}
