package dev.kataoperator.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the helm binary that scripts/setup.sh installs, on the chart in helm/kata-operator. */
final class Helm {
  static final YAMLMapper YAML = new YAMLMapper();
  static final Path CHART = Path.of(System.getProperty("kata.chart.dir", "kata-operator"));
  static final String NAMESPACE = "kata-system";

  record Result(int exit, String out, String err) {
    Result ok() {
      if (exit != 0) {
        throw new AssertionError("helm exited with " + exit + ":\n" + err + out);
      }
      return this;
    }
  }

  private Helm() {}

  static Path binary() {
    Path helm = Path.of(System.getProperty("kata.helm", "/opt/kata-dev-tools/bin/helm"));
    if (!Files.isExecutable(helm)) {
      throw new IllegalStateException(helm + " is missing; run 'make setup'");
    }
    return helm;
  }

  static Result run(List<String> args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(binary().toString()));
    cmd.addAll(args);
    Path out = Files.createTempFile("helm", ".out");
    Path err = Files.createTempFile("helm", ".err");
    // helm keeps its caches and config out of the user's home, in a directory of this call's.
    Path home = Files.createTempDirectory("helm-home");
    try {
      var pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
      pb.environment().put("HELM_CACHE_HOME", home.resolve("cache").toString());
      pb.environment().put("HELM_CONFIG_HOME", home.resolve("config").toString());
      pb.environment().put("HELM_DATA_HOME", home.resolve("data").toString());
      Process p = pb.start();
      if (!p.waitFor(180, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("timed out after 180 s: " + String.join(" ", cmd));
      }
      return new Result(
          p.exitValue(),
          Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
      try (var paths = Files.walk(home)) {
        for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  /** helm template with --set-style values (each "key=value"), as a list of documents. */
  static List<JsonNode> template(String... sets) throws IOException, InterruptedException {
    return parse(templateRaw(sets).ok().out());
  }

  static Result templateRaw(String... sets) throws IOException, InterruptedException {
    List<String> args =
        new ArrayList<>(List.of("template", "kata-operator", CHART.toString(), "-n", NAMESPACE));
    for (String s : sets) {
      args.add("--set");
      args.add(s);
    }
    return run(args);
  }

  static List<JsonNode> parse(String yaml) throws IOException {
    List<JsonNode> docs = new ArrayList<>();
    try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(yaml)) {
      while (it.hasNext()) {
        JsonNode n = it.next();
        if (n != null && !n.isNull() && !n.isMissingNode()) {
          docs.add(n);
        }
      }
    }
    return docs;
  }

  static JsonNode only(List<JsonNode> docs, String kind) {
    List<JsonNode> found = docs.stream().filter(d -> d.path("kind").asText().equals(kind)).toList();
    if (found.size() != 1) {
      throw new AssertionError("expected one " + kind + ", found " + found.size());
    }
    return found.getFirst();
  }
}
