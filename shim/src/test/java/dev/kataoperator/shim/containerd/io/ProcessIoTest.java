package dev.kataoperator.shim.containerd.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.shim.host.Native;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Tag("unit")
@Timeout(30)
class ProcessIoTest {
  @TempDir Path dir;

  Path fifo(String name) throws Exception {
    Path p = dir.resolve(name);
    Native.mkfifo(p, 0600);
    return p;
  }

  static <T> CompletableFuture<T> onPlatformThread(java.util.concurrent.Callable<T> c) {
    CompletableFuture<T> f = new CompletableFuture<>();
    Thread.ofPlatform()
        .daemon()
        .start(
            () -> {
              try {
                f.complete(c.call());
              } catch (Throwable t) {
                f.completeExceptionally(t);
              }
            });
    return f;
  }

  @Test
  void fifosOpenLazilyAndCarryData() throws Exception {
    Path in = fifo("stdin");
    Path out = fifo("stdout");
    Path err = fifo("stderr");
    // Nothing blocks when containerd has not opened its ends yet.
    ProcessIo io =
        ProcessIo.open(
            "c1", "ns", new ProcessIo.Stdio(in.toString(), out.toString(), err.toString(), false));
    CompletableFuture<String> readOut =
        onPlatformThread(() -> new String(Files.readAllBytes(out), StandardCharsets.UTF_8));
    CompletableFuture<String> readErr =
        onPlatformThread(() -> new String(Files.readAllBytes(err), StandardCharsets.UTF_8));
    CompletableFuture<Void> writeIn =
        onPlatformThread(
            () -> {
              try (OutputStream w = Files.newOutputStream(in)) {
                w.write("input".getBytes(StandardCharsets.UTF_8));
              }
              return null;
            });
    OutputStream o = io.stdout().orElseThrow();
    o.write("out".getBytes(StandardCharsets.UTF_8));
    o.close();
    OutputStream e = io.stderr().orElseThrow();
    e.write("err".getBytes(StandardCharsets.UTF_8));
    e.close();
    InputStream i = io.stdin().orElseThrow();
    assertEquals("input", new String(i.readAllBytes(), StandardCharsets.UTF_8));
    writeIn.get(5, TimeUnit.SECONDS);
    assertEquals("out", readOut.get(5, TimeUnit.SECONDS));
    assertEquals("err", readErr.get(5, TimeUnit.SECONDS));
    io.close();
  }

  @Test
  void closeUnblocksAReaderWaitingForAWriterThatNeverComes() throws Exception {
    Path in = fifo("stdin");
    Path out = fifo("stdout");
    ProcessIo io =
        ProcessIo.open("c1", "ns", new ProcessIo.Stdio(in.toString(), out.toString(), "", true));
    CompletableFuture<Integer> reading = onPlatformThread(() -> io.stdin().orElseThrow().read());
    CompletableFuture<Void> writing =
        onPlatformThread(
            () -> {
              io.stdout().orElseThrow().write(1);
              return null;
            });
    Thread.sleep(200);
    assertTrue(!reading.isDone() && !writing.isDone());
    io.closeStdin();
    assertEquals(-1, reading.get(5, TimeUnit.SECONDS));
    io.close();
    assertTrue(
        writing.handle((v, t) -> t != null).get(5, TimeUnit.SECONDS),
        "pending write fails on close");
    assertTrue(io.stderr().isEmpty(), "a terminal has no separate stderr");
  }

  /**
   * What ctr does with {@code echo data | ctr run ... cat}: open the stdin FIFO, write, close, and
   * send CloseIO right away, racing the shim's reader that is just opening the FIFO. The data must
   * arrive every time (it was lost about one run in three when CloseIO discarded a stream whose
   * open had just returned).
   */
  @Test
  void closeIoRightAfterTheClientWroteNeverLosesTheData() throws Exception {
    for (int i = 0; i < 200; i++) {
      Path in = fifo("stdin-" + i);
      String data = "data " + i;
      ProcessIo io = ProcessIo.open("c1", "ns", new ProcessIo.Stdio(in.toString(), "", "", false));
      CompletableFuture<String> reading =
          onPlatformThread(
              () -> new String(io.stdin().orElseThrow().readAllBytes(), StandardCharsets.UTF_8));
      CompletableFuture<Void> client =
          onPlatformThread(
              () -> {
                try (OutputStream w = Files.newOutputStream(in)) {
                  w.write(data.getBytes(StandardCharsets.UTF_8));
                }
                io.closeStdin();
                return null;
              });
      client.get(5, TimeUnit.SECONDS);
      assertEquals(data, reading.get(5, TimeUnit.SECONDS), "run " + i);
      io.close();
    }
  }

  @Test
  void closeIoBeforeTheReaderOpensGivesWhatWasWrittenThenEof() throws Exception {
    Path in = fifo("stdin");
    ProcessIo io = ProcessIo.open("c1", "ns", new ProcessIo.Stdio(in.toString(), "", "", false));
    // The client never opened its end and has closed stdin: the reader must not wait for it.
    io.closeStdin();
    CompletableFuture<Integer> reading = onPlatformThread(() -> io.stdin().orElseThrow().read());
    assertEquals(-1, reading.get(5, TimeUnit.SECONDS));
    io.close();
  }

  /**
   * Closing an output FIFO (which precedes the process's exit event) waits until the reader has
   * taken what was written, so a client that stops reading at the exit loses nothing; a reader that
   * never reads holds the close for the drain timeout at most.
   */
  @Test
  void closingOutputWaitsUntilTheReaderHasTakenTheData() throws Exception {
    Path out = fifo("stdout");
    ProcessIo io = ProcessIo.open("c1", "ns", new ProcessIo.Stdio("", out.toString(), "", false));
    var readerOpen = new java.util.concurrent.CountDownLatch(1);
    var mayRead = new java.util.concurrent.CountDownLatch(1);
    CompletableFuture<String> reading =
        onPlatformThread(
            () -> {
              try (InputStream r = Files.newInputStream(out)) {
                readerOpen.countDown();
                mayRead.await();
                return new String(r.readNBytes(5), StandardCharsets.UTF_8);
              }
            });
    io.stdout().orElseThrow().write("hello".getBytes(StandardCharsets.UTF_8));
    readerOpen.await();
    CompletableFuture<Void> closing =
        onPlatformThread(
            () -> {
              io.stdout().orElseThrow().close();
              return null;
            });
    Thread.sleep(300);
    assertTrue(!closing.isDone(), "close returned while the reader had not read yet");
    mayRead.countDown();
    assertEquals("hello", reading.get(5, TimeUnit.SECONDS));
    closing.get(5, TimeUnit.SECONDS);

    Path stuck = fifo("stuck");
    ProcessIo io2 =
        ProcessIo.open("c2", "ns", new ProcessIo.Stdio("", stuck.toString(), "", false));
    CompletableFuture<InputStream> neverReads = onPlatformThread(() -> Files.newInputStream(stuck));
    io2.stdout().orElseThrow().write('x');
    try (InputStream r = neverReads.get(5, TimeUnit.SECONDS)) {
      CompletableFuture<Void> bounded =
          onPlatformThread(
              () -> {
                io2.stdout().orElseThrow().close();
                return null;
              });
      bounded.get(10, TimeUnit.SECONDS); // the drain wait is bounded
    }
    io.close();
    io2.close();
  }

  @Test
  void fileUriAppendsBothStreamsToOneFile() throws Exception {
    Path log = dir.resolve("logs/c1.log");
    ProcessIo io =
        ProcessIo.open(
            "c1", "ns", new ProcessIo.Stdio("", "file://" + log, "file://" + log, false));
    io.stdout().orElseThrow().write("a\n".getBytes(StandardCharsets.UTF_8));
    io.stderr().orElseThrow().write("b\n".getBytes(StandardCharsets.UTF_8));
    io.close();
    assertEquals("a\nb\n", Files.readString(log));
  }

  @Test
  void binaryUriRunsTheLoggerWithFds3And4() throws Exception {
    Path script = dir.resolve("logger.sh");
    Path outFile = dir.resolve("logged");
    Files.writeString(
        script,
        "#!/bin/sh\n"
            + "exec 5>&-\n" // ready
            + "{ cat <&3; cat <&4; } > \"$2\"\n"
            + "echo \"$CONTAINER_ID $CONTAINER_NAMESPACE $1\" >> \"$2\"\n");
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
    ProcessIo io =
        ProcessIo.open(
            "c9",
            "k8s.io",
            new ProcessIo.Stdio("", "binary://" + script + "?-o=" + outFile, "", false));
    io.stdout().orElseThrow().write("from-stdout\n".getBytes(StandardCharsets.UTF_8));
    io.stdout().orElseThrow().close();
    io.stderr().orElseThrow().write("from-stderr\n".getBytes(StandardCharsets.UTF_8));
    io.close();
    for (int i = 0; i < 100 && !Files.readString(outFile).contains("c9"); i++) {
      Thread.sleep(50);
    }
    assertEquals("from-stdout\nfrom-stderr\nc9 k8s.io -o\n", Files.readString(outFile));
  }
}
