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
import java.util.Map;

/**
 * QEMU Machine Protocol client over a unix socket: one JSON object per line, commands answered in
 * order, asynchronous events interleaved (and skipped here; the VM's exit is observed on the
 * process, not through events).
 */
public final class Qmp implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final SocketChannel channel;
  private final BufferedReader in;
  private final OutputStream out;

  private Qmp(SocketChannel channel) {
    this.channel = channel;
    this.in =
        new BufferedReader(
            new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
    this.out = Channels.newOutputStream(channel);
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  public static Qmp connect(Path socket) throws IOException {
    var channel = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      channel.connect(UnixDomainSocketAddress.of(socket));
      var qmp = new Qmp(channel);
      JsonNode greeting = qmp.readMessage();
      if (!greeting.has("QMP")) {
        throw new IOException("not a QMP greeting: " + greeting);
      }
      qmp.execute("qmp_capabilities", Map.of());
      return qmp;
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  /**
   * Runs one command and returns its "return" value.
   *
   * @throws HypervisorException when QEMU answers with an error
   */
  public synchronized JsonNode execute(String command, Map<String, ?> arguments)
      throws IOException {
    ObjectNode msg = JSON.createObjectNode().put("execute", command);
    if (!arguments.isEmpty()) {
      msg.set("arguments", JSON.valueToTree(arguments));
    }
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
