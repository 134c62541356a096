package dev.kataoperator.shim.ttrpc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Builds the Go test tools under src/test/go/ (each its own module) into target/go-bin/, rebuilding
 * only when a source is newer than the binary. Go is required for these tests, not optional: a
 * missing toolchain fails the build with a message rather than skipping.
 */
public final class GoBuild {
  private GoBuild() {}

  public static synchronized Path binary(String tool) throws IOException, InterruptedException {
    Path src = Path.of("src/test/go", tool).toAbsolutePath();
    Path out = Path.of("target/go-bin", tool).toAbsolutePath();
    if (!Files.isDirectory(src)) {
      throw new IllegalStateException("no Go tool sources at " + src);
    }
    if (Files.isExecutable(out)
        && newestSource(src).compareTo(Files.getLastModifiedTime(out)) <= 0) {
      return out;
    }
    Files.createDirectories(out.getParent());
    ProcessBuilder pb =
        new ProcessBuilder(go(), "build", "-trimpath", "-o", out.toString(), ".")
            .directory(src.toFile())
            .redirectErrorStream(true);
    pb.environment().put("CGO_ENABLED", "0");
    pb.environment().putIfAbsent("GOFLAGS", "-mod=mod");
    Process p = pb.start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException("go build of " + tool + " failed:\n" + log);
    }
    return out;
  }

  private static String go() {
    String env = System.getenv("GO");
    if (env != null && !env.isBlank()) {
      return env;
    }
    for (String candidate : List.of("/usr/local/go/bin/go", "/usr/lib/go/bin/go")) {
      if (Files.isExecutable(Path.of(candidate))) {
        return candidate;
      }
    }
    String path = System.getenv().getOrDefault("PATH", "");
    for (String dir : path.split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "go"))) {
        return Path.of(dir, "go").toString();
      }
    }
    throw new IllegalStateException(
        "these tests need the Go toolchain (set GO=/path/to/go or install it at /usr/local/go)");
  }

  private static FileTime newestSource(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      return files
          .filter(Files::isRegularFile)
          .map(
              f -> {
                try {
                  return Files.getLastModifiedTime(f);
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              })
          .max(FileTime::compareTo)
          .orElseThrow();
    }
  }
}
