package dev.kataoperator.shim.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kataoperator.shim.hypervisor.HypervisorException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * QEMU Machine Protocol client over a unix socket: one JSON object per line, commands answered in
 * order, asynchronous events interleaved (and skipped here; the VM's exit is observed on the
 * process, not through events).
 *
 * <p>Every exchange has a deadline: a QEMU that accepts the connection and then never speaks (a
 * wedged main loop) cannot hang the shim. When an answer is late the connection is closed, which
 * ends the blocked read; the caller then treats QEMU as unresponsive and kills it.
 */
public final class Qmp implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** How long one command may take: QEMU answers in milliseconds when its main loop runs. */
  static final Duration TIMEOUT = Duration.ofSeconds(5);

  private static final ScheduledExecutorService DEADLINES =
      Executors.newSingleThreadScheduledExecutor(
          r -> Thread.ofPlatform().daemon().name("qmp-deadlines").unstarted(r));

  private final SocketChannel channel;
  private final BufferedReader in;
  private final OutputStream out;
  private volatile boolean timedOut;

  private Qmp(SocketChannel channel) {
    this.channel = channel;
    this.in =
        new BufferedReader(
            new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
    this.out = Channels.newOutputStream(channel);
  }

  /** Connects, reads the greeting and negotiates capabilities, each within {@link #TIMEOUT}. */
  public static Qmp connect(Path socket) throws IOException {
    return connect(socket, TIMEOUT);
  }

  static Qmp connect(Path socket, Duration timeout) throws IOException {
    var channel = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      channel.connect(UnixDomainSocketAddress.of(socket));
      var qmp = new Qmp(channel);
      JsonNode greeting = qmp.withDeadline("the greeting", timeout, qmp::readMessage);
      if (!greeting.has("QMP")) {
        throw new IOException("not a QMP greeting: " + greeting);
      }
      qmp.execute("qmp_capabilities", Map.of(), timeout);
      return qmp;
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  /**
   * Runs one command and returns its "return" value, within {@link #TIMEOUT}.
   *
   * @throws HypervisorException when QEMU answers with an error
   * @throws IOException when the connection fails or the answer is late (the connection is then
   *     closed)
   */
  public JsonNode execute(String command, Map<String, ?> arguments) throws IOException {
    return execute(command, arguments, TIMEOUT);
  }

  synchronized JsonNode execute(String command, Map<String, ?> arguments, Duration timeout)
      throws IOException {
    ObjectNode msg = JSON.createObjectNode().put("execute", command);
    if (!arguments.isEmpty()) {
      msg.set("arguments", JSON.valueToTree(arguments));
    }
    return withDeadline(
        command,
        timeout,
        () -> {
          out.write((JSON.writeValueAsString(msg) + "\n").getBytes(StandardCharsets.UTF_8));
          out.flush();
          while (true) {
            JsonNode reply = readMessage();
            if (reply.has("event")) {
              continue;
            }
            if (reply.has("error")) {
              throw new HypervisorException(
                  "QMP " + command + " failed: " + reply.path("error").path("desc").asText());
            }
            return reply.path("return");
          }
        });
  }

  private interface Exchange {
    JsonNode run() throws IOException;
  }

  private JsonNode withDeadline(String what, Duration timeout, Exchange exchange)
      throws IOException {
    ScheduledFuture<?> expiry =
        DEADLINES.schedule(
            () -> {
              timedOut = true;
              closeQuietly();
            },
            timeout.toNanos(),
            TimeUnit.NANOSECONDS);
    try {
      return exchange.run();
    } catch (IOException e) {
      if (timedOut) {
        throw new IOException(
            "QEMU did not answer " + what + " on QMP within " + timeout.toMillis() + " ms", e);
      }
      throw e;
    } finally {
      expiry.cancel(false);
    }
  }

  private void closeQuietly() {
    try {
      channel.close();
    } catch (IOException e) {
      // closing is all that is left to do
    }
  }

  private JsonNode readMessage() throws IOException {
    String line = in.readLine();
    if (line == null) {
      throw new IOException("QMP connection closed by QEMU");
    }
    return JSON.readTree(line);
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
