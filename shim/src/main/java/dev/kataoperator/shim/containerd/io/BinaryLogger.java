package dev.kataoperator.shim.containerd.io;

import dev.kataoperator.shim.host.Native;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A {@code binary://} logger: started with stdout and stderr as fds 3 and 4 and a readiness pipe as
 * fd 5, with only CONTAINER_ID and CONTAINER_NAMESPACE in its environment and the URI's query as
 * arguments (key, first value, ...), as containerd's runc shim runs it. The JDK cannot hand a child
 * extra fds, so a {@code /bin/sh} stub opens three FIFOs onto them and execs the logger.
 */
final class BinaryLogger {
  private static final System.Logger LOG = System.getLogger(BinaryLogger.class.getName());

  private static final String STUB =
      "o=$1; e=$2; r=$3; shift 3; exec \"$@\" 3<\"$o\" 4<\"$e\" 5>\"$r\"";

  static ProcessIo start(
      String containerId, String namespace, URI uri, ProcessIo.Stdio stdio, FifoInput stdin)
      throws IOException {
    Path dir = Files.createTempDirectory("kata-shim-log-");
    Path out = dir.resolve("out");
    Path err = dir.resolve("err");
    Path ready = dir.resolve("ready");
    Native.mkfifo(out, 0600);
    Native.mkfifo(err, 0600);
    Native.mkfifo(ready, 0600);
    List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c", STUB, "sh"));
    cmd.addAll(List.of(out.toString(), err.toString(), ready.toString(), uri.getPath()));
    cmd.addAll(queryArgs(uri));
    ProcessBuilder pb =
        new ProcessBuilder(cmd)
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.DISCARD);
    Map<String, String> env = pb.environment();
    env.clear();
    env.put("CONTAINER_ID", containerId);
    env.put("CONTAINER_NAMESPACE", namespace);
    Process p = pb.start();
    // The stub opens fd 3, 4, then 5, each blocking until we open the other end, in that order.
    OutputStream[] streams = new OutputStream[2];
    Thread opener =
        Thread.ofPlatform()
            .daemon()
            .name("binary-logger-open")
            .start(
                () -> {
                  try {
                    streams[0] = Files.newOutputStream(out, StandardOpenOption.WRITE);
                    streams[1] = Files.newOutputStream(err, StandardOpenOption.WRITE);
                    try (InputStream r = Files.newInputStream(ready)) {
                      r.read(); // EOF (or a byte) once the logger is ready
                    }
                  } catch (IOException e) {
                    LOG.log(Level.WARNING, "binary logger " + uri + " did not start", e);
                  }
                });
    boolean ok;
    try {
      ok = opener.join(java.time.Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      ok = false;
    }
    if (!ok || streams[1] == null) {
      p.destroyForcibly();
      for (Path f : List.of(out, err, ready)) {
        ProcessIo.unblockOpen(f);
      }
      cleanup(dir, out, err, ready);
      throw new IOException("logging binary " + uri.getPath() + " did not become ready");
    }
    cleanup(dir, out, err, ready);
    Closeable reaper =
        () -> {
          try {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
              p.destroy();
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        };
    return new ProcessIo(
        stdio,
        stdin,
        streams[0],
        stdio.terminal() ? null : streams[1],
        List.of(streams[1], reaper));
  }

  private static List<String> queryArgs(URI uri) {
    List<String> args = new ArrayList<>();
    String q = uri.getRawQuery();
    if (q == null || q.isEmpty()) {
      return args;
    }
    java.util.LinkedHashMap<String, String> first = new java.util.LinkedHashMap<>();
    for (String kv : q.split("&")) {
      int eq = kv.indexOf('=');
      String k = decode(eq < 0 ? kv : kv.substring(0, eq));
      String v = eq < 0 ? null : decode(kv.substring(eq + 1));
      first.putIfAbsent(k, v);
    }
    first.forEach(
        (k, v) -> {
          args.add(k);
          if (v != null) {
            args.add(v);
          }
        });
    return args;
  }

  private static String decode(String s) {
    return java.net.URLDecoder.decode(s, StandardCharsets.UTF_8);
  }

  private static void cleanup(Path dir, Path... files) {
    try {
      for (Path f : files) {
        Files.deleteIfExists(f);
      }
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      LOG.log(Level.DEBUG, "removing " + dir, e);
    }
  }
}
