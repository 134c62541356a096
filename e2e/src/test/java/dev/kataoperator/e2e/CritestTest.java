package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * critest v1.36.0, cri-tools' CRI validation suite, against containerd 2.2 (what Kubernetes 1.35
 * nodes run; {@code -Dkata.critest.containerd=1.6,2.2} adds 1.6) with the installed node payload as
 * the kata-qemu runtime handler, through {@code e2e/critest/run.sh} (loopback registry, hosts.toml,
 * CNI bridge and portmap; see docs/compatibility.md). Prints passed, failed and skipped specs per
 * group and fails when a spec fails that {@code e2e/critest/expected-failures.txt} does not list; a
 * listed spec that passed is reported, so that the list only shrinks.
 */
@Tag("vm")
class CritestTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One entry of expected-failures.txt. */
  record Expected(String kind, String spec, String reason) {}

  /** One spec of critest's report. */
  record Spec(String group, String name, String state, String message, double seconds) {
    boolean failed() {
      return !state.equals("passed") && !state.equals("skipped") && !state.equals("pending");
    }
  }

  @TempDir static Path tmp;
  static Path prefix;

  static List<String> containerdVersions() {
    return List.of(System.getProperty("kata.critest.containerd", "2.2").split(","));
  }

  @BeforeAll
  static void installPayload() throws Exception {
    Path payload = tmp.resolve("payload");
    prefix = tmp.resolve("opt-kata");
    script(
        "shim/payload/build-payload.sh",
        payload.toString(),
        "0.0.0-critest",
        Repo.guestDir().toString(),
        Repo.root().resolve("build/virtiofsd/virtiofsd").toString());
    script("shim/payload/install-payload.sh", payload.toString(), prefix.toString());
  }

  @ParameterizedTest(name = "containerd {0}")
  @MethodSource("containerdVersions")
  void criValidationSuiteWithTheInstalledPayload(String containerd) throws Exception {
    Path out = Repo.root().resolve("e2e/target/critest/containerd-" + containerd);
    var pb =
        new ProcessBuilder("bash", Repo.root().resolve("e2e/critest/run.sh").toString())
            .redirectErrorStream(true);
    pb.environment().put("SHIM_DIR", prefix.resolve("bin").toString());
    pb.environment().put("CRITEST_OUT", out.toString());
    pb.environment().put("HANDLER", "kata-qemu");
    pb.environment().put("CONTAINERD", containerd);
    pb.environment().remove("KATA_CONFIG"); // the payload's own default config
    long started = System.nanoTime();
    Process p = pb.start();
    try (var r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      r.lines().forEach(line -> System.out.println("[critest] " + line));
    }
    // run.sh bounds critest itself (--ginkgo.timeout); this is a backstop.
    if (!p.waitFor(45, TimeUnit.MINUTES)) {
      p.destroy();
      throw new AssertionError("run.sh did not finish within 45 minutes");
    }
    double minutes = (System.nanoTime() - started) / 60e9;
    // 0: every spec passed; 1: some failed (judged below); anything else: the setup failed.
    assertTrue(p.exitValue() <= 1, "run.sh failed (exit " + p.exitValue() + "), see above");

    List<Spec> specs = specs(out.resolve("report.json"));
    // containerd's own answers are those of 1.6.
    List<Expected> expected =
        expectedFailures().stream()
            .filter(e -> !e.kind().equals("containerd") || containerd.equals("1.6"))
            .toList();
    String summary = summary(specs, expected, containerd, minutes);
    System.out.println(summary);
    Files.writeString(out.resolve("summary.txt"), summary);

    long ran = specs.stream().filter(s -> !s.state().equals("skipped")).count();
    assertTrue(ran >= 60, "only " + ran + " specs ran; the setup is broken (" + out + ")");
    List<String> unexpected =
        specs.stream()
            .filter(Spec::failed)
            .filter(s -> expected.stream().noneMatch(e -> e.spec().equals(s.name())))
            .map(s -> s.name() + ": " + s.message())
            .toList();
    assertEquals(List.of(), unexpected, "specs that failed and are not expected to (" + out + ")");
    // Leftovers of the run: the payload's QEMUs name the temporary prefix.
    assertEquals(List.of(), Leaks.processes(prefix.toString()), "VMs left running");
  }

  private static void script(String path, String... args) throws Exception {
    var cmd = new ArrayList<>(List.of("bash", Repo.root().resolve(path).toString()));
    cmd.addAll(List.of(args));
    var pb = new ProcessBuilder(cmd).inheritIO();
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    assertEquals(0, pb.start().waitFor(), String.join(" ", cmd));
  }

  /** The specs of ginkgo's JSON report (the It nodes), in report order. */
  static List<Spec> specs(Path report) throws IOException {
    var specs = new ArrayList<Spec>();
    for (JsonNode suite : JSON.readTree(report.toFile())) {
      for (JsonNode s : suite.path("SpecReports")) {
        if (!s.path("LeafNodeType").asText().equals("It")) {
          continue;
        }
        var texts = new ArrayList<String>();
        s.path("ContainerHierarchyTexts").forEach(t -> texts.add(t.asText()));
        String group = texts.isEmpty() ? "" : texts.getFirst();
        texts.add(s.path("LeafNodeText").asText());
        specs.add(
            new Spec(
                group,
                String.join(" ", texts),
                s.path("State").asText(),
                firstLine(s.path("Failure").path("Message").asText("")),
                s.path("RunTime").asLong() / 1e9));
      }
    }
    return specs;
  }

  /** The line of a gomega failure that says what went wrong (an RPC error where there is one). */
  static String firstLine(String message) {
    List<String> lines = message.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    return lines.stream()
        .filter(l -> l.startsWith("rpc error"))
        .findFirst()
        .orElse(lines.isEmpty() ? "" : lines.getFirst());
  }

  /** expected-failures.txt: "kind | spec | reason" lines; '#' starts a comment line. */
  static List<Expected> expectedFailures() throws IOException {
    var list = new ArrayList<Expected>();
    for (String line :
        Files.readAllLines(Repo.root().resolve("e2e/critest/expected-failures.txt"))) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      String[] f = line.split("\\s+\\|\\s+", 3);
      if (f.length != 3) {
        throw new IllegalStateException(
            "expected-failures.txt: not 'kind | spec | reason': " + line);
      }
      list.add(new Expected(f[0].strip(), f[1].strip(), f[2].strip()));
    }
    return list;
  }

  static String summary(
      List<Spec> specs, List<Expected> expected, String containerd, double minutes) {
    var sb = new StringBuilder();
    Map<String, int[]> groups = new TreeMap<>();
    for (Spec s : specs) {
      int[] c = groups.computeIfAbsent(s.group(), g -> new int[3]);
      c[s.failed() ? 1 : s.state().equals("passed") ? 0 : 2]++;
    }
    int[] total = new int[3];
    sb.append(
        String.format(
            "critest v1.36.0, kata-qemu on containerd %s: %.1f min%n", containerd, minutes));
    sb.append(String.format("%-44s %6s %6s %7s%n", "group", "passed", "failed", "skipped"));
    groups.forEach(
        (g, c) -> {
          sb.append(String.format("%-44s %6d %6d %7d%n", g, c[0], c[1], c[2]));
          for (int i = 0; i < 3; i++) {
            total[i] += c[i];
          }
        });
    sb.append(String.format("%-44s %6d %6d %7d%n", "total", total[0], total[1], total[2]));
    Map<String, Spec> byName = new LinkedHashMap<>();
    specs.forEach(s -> byName.put(s.name(), s));
    for (Spec s : specs) {
      if (s.failed()) {
        var e = expected.stream().filter(x -> x.spec().equals(s.name())).findFirst();
        sb.append(
            e.map(x -> "  expected (" + x.kind() + "): ").orElse("  UNEXPECTED FAILURE: ")
                + s.name()
                + "\n      "
                + s.message()
                + "\n");
      }
    }
    for (Expected e : expected) {
      Spec s = byName.get(e.spec());
      if (s == null) {
        sb.append("  listed but not in the report (renamed or skipped?): ")
            .append(e.spec())
            .append('\n');
      } else if (s.state().equals("passed") && e.kind().equals("design")) {
        sb.append("  passes, though it should be refused (design): ").append(e.spec()).append('\n');
      } else if (s.state().equals("passed")) {
        sb.append("  PASSES NOW, remove it from expected-failures.txt: ")
            .append(e.spec())
            .append('\n');
      }
    }
    return sb.toString();
  }
}
