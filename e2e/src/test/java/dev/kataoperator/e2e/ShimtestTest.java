package dev.kataoperator.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * containerd/shimtest's conformance suites against the tree's shim binary, through {@code
 * e2e/shimtest/run.sh} (which builds the Go runner, runs each suite and ends any shim a test left
 * running). Lifecycle, events, exec and stdio must pass and leave no shim behind; every other
 * result is printed, not asserted. What passes and why the rest does not: docs/shimtest.md.
 */
@Tag("vm")
class ShimtestTest {
  /** suite/test of shimtest (v0.3.0 names) that must pass. */
  static final List<String> REQUIRED =
      List.of(
          "Run/Lifecycle",
          "Run/Events",
          "Exec/Exec",
          "Exec/StdioRoundTrip",
          "Exec/LargeStdioRoundTrip");

  @Test
  void requiredSuitesPass() throws Exception {
    Path out = Repo.root().resolve("e2e/target/shimtest");
    ProcessBuilder pb =
        new ProcessBuilder("bash", Repo.root().resolve("e2e/shimtest/run.sh").toString())
            .redirectErrorStream(true);
    pb.environment().put("SHIMTEST_OUT", out.toString());
    pb.environment().put("KATA_GUEST_DIR", Repo.guestDir().toString());
    pb.environment().remove("KATA_CONFIG");
    pb.environment().remove("SHIM_BINARY");
    Process p = pb.start();
    try (var r = new BufferedReader(new InputStreamReader(p.getInputStream(), UTF8))) {
      r.lines().forEach(line -> System.out.println("[shimtest] " + line));
    }
    // The script bounds every suite itself (about 2.5 minutes in all); this is a backstop.
    assertTrue(p.waitFor(8, TimeUnit.MINUTES), "run.sh did not finish");
    assertEquals(0, p.exitValue(), "run.sh failed (see its output above)");

    Map<String, String> results = new LinkedHashMap<>();
    List<String> leaks = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve("results.txt"), UTF8)) {
      String[] f = line.split(" ");
      if (f[0].equals("RESULT") && f.length == 4) {
        results.put(f[1] + "/" + f[2], f[3]);
      } else if (f[0].equals("LEAK") && f.length == 3) {
        leaks.add(f[2]);
      }
    }
    results.forEach(
        (test, result) -> {
          String required = REQUIRED.contains(test) ? " (required)" : "";
          System.out.println("shimtest " + test + ": " + result + required);
        });

    List<String> failed = new ArrayList<>();
    for (String test : REQUIRED) {
      String result = results.getOrDefault(test, "NOT RUN");
      if (!result.equals("PASS")) {
        failed.add(test + " " + result);
      }
      // shimtest's container ids are the lowercased test name plus a random suffix.
      String idPrefix = ("test" + test).toLowerCase().replace('/', '-') + "-";
      leaks.stream()
          .filter(id -> id.startsWith(idPrefix))
          .forEach(id -> failed.add(test + " left its shim running (" + id + ")"));
    }
    assertEquals(List.of(), failed, "required shimtest tests (logs in " + out + ")");
  }

  private static final java.nio.charset.Charset UTF8 = StandardCharsets.UTF_8;
}
