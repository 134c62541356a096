package dev.kataoperator.installer.containerd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.installer.containerd.ContainerdConfigException.Kind;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.tomlj.Toml;

@Tag("unit")
class ImportsEditorTest {
  static final String E = "/etc/containerd/kata-operator.toml";
  static final String Q = "\"" + E + "\"";

  /** Shapes of main config: original text, and the exact text after adding {@link #E}. */
  static Stream<Arguments> shapes() {
    return Stream.of(
        Arguments.of("empty file", "", "imports = [" + Q + "]\n"),
        Arguments.of(
            "no imports, version first",
            "version = 2\n\n[plugins]\n",
            "version = 2\nimports = [" + Q + "]\n\n[plugins]\n"),
        Arguments.of(
            "no imports, version after a comment and another key",
            "# header\nroot = \"/var/lib/containerd\"\nversion = 3 # v3\n[grpc]\n  address = \"/x\"\n",
            "# header\nroot = \"/var/lib/containerd\"\nversion = 3 # v3\nimports = ["
                + Q
                + "]\n[grpc]\n  address = \"/x\"\n"),
        Arguments.of(
            "no imports, no version",
            "# only a comment\n[grpc]\n",
            "imports = [" + Q + "]\n# only a comment\n[grpc]\n"),
        Arguments.of(
            "no imports, version on the last line without a newline",
            "version = 2",
            "version = 2\nimports = [" + Q + "]"),
        Arguments.of(
            "CRLF line endings",
            "version = 2\r\n[plugins]\r\n",
            "version = 2\r\nimports = [" + Q + "]\r\n[plugins]\r\n"),
        Arguments.of("empty imports", "imports = []\n", "imports = [" + Q + "]\n"),
        Arguments.of("empty imports with space", "imports = [ ]\n", "imports = [" + Q + " ]\n"),
        Arguments.of(
            "empty multi-line imports with a comment",
            "imports = [\n  # none yet\n]\n",
            "imports = [" + Q + "\n  # none yet\n]\n"),
        Arguments.of(
            "one other entry",
            "version = 2\nimports = [\"/etc/containerd/a.toml\"]\n",
            "version = 2\nimports = [\"/etc/containerd/a.toml\", " + Q + "]\n"),
        Arguments.of(
            "glob and literal-string entries, comment after",
            "imports = ['/etc/containerd/conf.d/*.toml', \"b.toml\"] # drop-ins\n",
            "imports = ['/etc/containerd/conf.d/*.toml', \"b.toml\", " + Q + "] # drop-ins\n"),
        Arguments.of(
            "trailing comma",
            "imports = [\"/a.toml\",]\n",
            "imports = [\"/a.toml\", " + Q + ",]\n"),
        Arguments.of(
            "multi-line with trailing comma and comments",
            "imports = [\n  \"/a.toml\", # first\n  \"/b.toml\", # second\n]\nversion = 2\n",
            "imports = [\n  \"/a.toml\", # first\n  \"/b.toml\", "
                + Q
                + ", # second\n]\nversion = 2\n"),
        Arguments.of(
            "multi-line without trailing comma",
            "imports = [\n  \"/a.toml\",\n  \"/b.toml\"  # b\n]\n",
            "imports = [\n  \"/a.toml\",\n  \"/b.toml\", " + Q + "  # b\n]\n"),
        Arguments.of(
            "strings holding brackets, commas, quotes and hashes",
            "imports = [\"/x/a],b#c.toml\", '/y/\"q\".toml', \"/z/\\\"e\\\".toml\"]\n",
            "imports = [\"/x/a],b#c.toml\", '/y/\"q\".toml', \"/z/\\\"e\\\".toml\", " + Q + "]\n"),
        Arguments.of(
            "quoted key, spacing around '='",
            "\"imports\"=[\"/a.toml\"]\n",
            "\"imports\"=[\"/a.toml\", " + Q + "]\n"),
        Arguments.of(
            "indented key after comments and blank lines",
            "\n\n# c1\n   imports   =   [  ]   # c2\n[plugins.\"x\"]\n  imports = 3\n",
            "\n\n# c1\n   imports   =   [" + Q + "  ]   # c2\n[plugins.\"x\"]\n  imports = 3\n"),
        Arguments.of(
            "multi-line string entry",
            "imports = [\"\"\"/a.toml\"\"\"]\n",
            "imports = [\"\"\"/a.toml\"\"\", " + Q + "]\n"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("shapes")
  void addsExactlyTheEntry(String name, String before, String after) throws Exception {
    assertEquals(after, ImportsEditor.add(before, E, "test.toml"));
    var parsed = Toml.parse(after);
    assertFalse(parsed.hasErrors(), () -> parsed.errors().toString());
    assertTrue(ImportsEditor.imports(parsed, "t").orElseThrow().contains(E));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("shapes")
  void addingTwiceChangesNothing(String name, String before, String after) throws Exception {
    assertEquals(after, ImportsEditor.add(after, E, "test.toml"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("shapes")
  void removeUndoesAddByteForByte(String name, String before, String after) throws Exception {
    boolean createdKey = ImportsEditor.imports(ImportsEditor.parse(before, "t"), "t").isEmpty();
    assertEquals(before, ImportsEditor.remove(after, E, createdKey, "test.toml"));
  }

  @Test
  void removesAnEntryWeDidNotAddCleanlyFromEveryPosition() throws Exception {
    String multi = "imports = [\n  " + Q + ",\n  \"/a.toml\",\n  \"/b.toml\"\n]\n";
    assertEquals(
        "imports = [\n  \"/a.toml\",\n  \"/b.toml\"\n]\n",
        ImportsEditor.remove(multi, E, false, "t"));
    String middle = "imports = [\"/a.toml\", " + Q + ", \"/b.toml\"]\n";
    assertEquals(
        "imports = [\"/a.toml\", \"/b.toml\"]\n", ImportsEditor.remove(middle, E, false, "t"));
    String last = "imports = [\n  \"/a.toml\",\n  " + Q + "\n]\n";
    assertEquals("imports = [\n  \"/a.toml\"\n]\n", ImportsEditor.remove(last, E, false, "t"));
    String lastWithComma = "imports = [\n  \"/a.toml\",\n  " + Q + ",\n]\n";
    assertEquals(
        "imports = [\n  \"/a.toml\",\n]\n", ImportsEditor.remove(lastWithComma, E, false, "t"));
  }

  @Test
  void keepsCommentsNextToTheRemovedEntry() throws Exception {
    String t = "imports = [\n  \"/a.toml\", # a\n  " + Q + " # ours\n]\n";
    String out = ImportsEditor.remove(t, E, false, "t");
    assertEquals(List.of("/a.toml"), ImportsEditor.imports(Toml.parse(out), "t").orElseThrow());
    assertTrue(out.contains("# a") && out.contains("# ours"), out);
  }

  @Test
  void removesDuplicatesToo() throws Exception {
    String t = "imports = [" + Q + ", \"/a.toml\", " + Q + "]\n";
    assertEquals("imports = [\"/a.toml\"]\n", ImportsEditor.remove(t, E, false, "t"));
  }

  @Test
  void keepsAKeyWeDidNotCreateEvenWhenEmpty() throws Exception {
    assertEquals("imports = []\n", ImportsEditor.remove("imports = [" + Q + "]\n", E, false, "t"));
  }

  @Test
  void keepsAKeyWeCreatedWhenOthersAddedEntries() throws Exception {
    String t = "version = 2\nimports = [" + Q + ", \"/other.toml\"]\n";
    assertEquals(
        "version = 2\nimports = [\"/other.toml\"]\n", ImportsEditor.remove(t, E, true, "t"));
  }

  @Test
  void removingAnAbsentEntryChangesNothing() throws Exception {
    for (String t : List.of("", "version = 2\n", "imports = [\"/a.toml\"]\n", "imports = []")) {
      assertEquals(t, ImportsEditor.remove(t, E, true, "t"));
    }
  }

  @Test
  void neverLeavesALoneComma() throws Exception {
    for (String t :
        List.of(
            "imports = [" + Q + ",]\n",
            "imports = [ " + Q + " , ]\n",
            "imports = [\n  " + Q + ",\n]\n")) {
      String out = ImportsEditor.remove(t, E, false, "t");
      assertFalse(out.matches("(?s).*\\[\\s*,.*"), out);
      assertFalse(Toml.parse(out).hasErrors(), out);
    }
  }

  @Test
  void rejectsImportsThatAreNotAnArrayOfStrings() {
    for (String t :
        List.of(
            "imports = \"/a.toml\"\n",
            "imports = 1\n",
            "[imports]\na = 1\n",
            "imports = [1, 2]\n",
            "imports.a = \"x\"\n")) {
      var e =
          assertThrows(ContainerdConfigException.class, () -> ImportsEditor.add(t, E, "main.toml"));
      assertEquals(Kind.BAD_IMPORTS, e.kind(), t);
      assertTrue(e.getMessage().startsWith("main.toml: "), e.getMessage());
    }
  }

  @Test
  void rejectsMalformedToml() {
    for (String t : List.of("imports = [\n", "version = \n", "[plugins\n", "a = 1\na = 2\n")) {
      var e =
          assertThrows(ContainerdConfigException.class, () -> ImportsEditor.add(t, E, "main.toml"));
      assertEquals(Kind.UNPARSEABLE, e.kind(), t);
    }
  }

  @Test
  void quotesPathsThatNeedEscaping() throws Exception {
    String out = ImportsEditor.add("", "/odd \"dir\"\\x.toml", "t");
    assertEquals(
        List.of("/odd \"dir\"\\x.toml"), ImportsEditor.imports(Toml.parse(out), "t").orElseThrow());
  }
}
