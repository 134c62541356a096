package dev.kataoperator.shim.agent;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.kataoperator.agent.v1.AdoptIdentityRequest;
import dev.kataoperator.agent.v1.AdoptIdentityResponse;
import dev.kataoperator.agent.v1.ContainerRequest;
import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.agent.v1.CreateSandboxRequest;
import dev.kataoperator.agent.v1.DestroySandboxRequest;
import dev.kataoperator.agent.v1.Empty;
import dev.kataoperator.agent.v1.ExecProcessRequest;
import dev.kataoperator.agent.v1.ExecProcessResponse;
import dev.kataoperator.agent.v1.GetOOMEventRequest;
import dev.kataoperator.agent.v1.HealthRequest;
import dev.kataoperator.agent.v1.HealthResponse;
import dev.kataoperator.agent.v1.ListProcessesResponse;
import dev.kataoperator.agent.v1.OOMEvent;
import dev.kataoperator.agent.v1.PortForwardOpenRequest;
import dev.kataoperator.agent.v1.PortForwardOpenResponse;
import dev.kataoperator.agent.v1.PortForwardReadRequest;
import dev.kataoperator.agent.v1.PortForwardRequest;
import dev.kataoperator.agent.v1.PortForwardWriteRequest;
import dev.kataoperator.agent.v1.ProcessRequest;
import dev.kataoperator.agent.v1.ReadStreamRequest;
import dev.kataoperator.agent.v1.ReadStreamResponse;
import dev.kataoperator.agent.v1.ResizeTerminalRequest;
import dev.kataoperator.agent.v1.SignalProcessRequest;
import dev.kataoperator.agent.v1.StartContainerResponse;
import dev.kataoperator.agent.v1.StatsContainerResponse;
import dev.kataoperator.agent.v1.UpdateContainerRequest;
import dev.kataoperator.agent.v1.UpdateInterfaceRequest;
import dev.kataoperator.agent.v1.UpdateRoutesRequest;
import dev.kataoperator.agent.v1.WaitProcessResponse;
import dev.kataoperator.agent.v1.WriteStdinRequest;
import dev.kataoperator.agent.v1.WriteStdinResponse;
import dev.kataoperator.shim.ttrpc.TtrpcClient;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Typed client for the guest agent API (guest/agent/proto/agent.proto) over one ttrpc connection.
 * Calls may run concurrently; the blocking ones (reads, waits, OOM events) take no deadline.
 */
public final class AgentClient implements AutoCloseable {
  static final String SERVICE = "kataagent.v1.Agent";
  private static final Duration NO_DEADLINE = Duration.ZERO;

  /**
   * How long the guest gets to answer: {@code call} for every call that should answer promptly,
   * {@code shutdown} for DestroySandbox (after which the VM is killed). The waits, reads and OOM
   * events take none: they end with the process, or with the VM.
   */
  public record Deadlines(Duration call, Duration shutdown) {}

  private final TtrpcClient ttrpc;
  private final Duration callTimeout;
  private final Duration shutdownTimeout;

  private AgentClient(TtrpcClient ttrpc, Deadlines deadlines) {
    this.ttrpc = ttrpc;
    this.callTimeout = deadlines.call();
    this.shutdownTimeout = deadlines.shutdown();
  }

  /** Connects to the host end of the agent channel (the VM's agent socket). */
  public static AgentClient connect(Path socket, Deadlines deadlines) throws IOException {
    return new AgentClient(TtrpcClient.connect(socket), deadlines);
  }

  private <R extends Message> R call(
      String method, Message request, Parser<R> parser, Duration timeout) {
    try {
      return ttrpc.call(SERVICE, method, request, parser, timeout);
    } catch (TtrpcException e) {
      throw AgentException.from(method, e);
    }
  }

  public HealthResponse health(Duration timeout) {
    return call("Health", HealthRequest.getDefaultInstance(), HealthResponse.parser(), timeout);
  }

  /**
   * Gives a VM restored from a template its own identity (see agent.proto): the random generator
   * reseeded with {@code entropy}, the wall clock set to {@code now}; the guest's boot_id after.
   */
  public String adoptIdentity(byte[] entropy, java.time.Instant now) {
    return call(
            "AdoptIdentity",
            AdoptIdentityRequest.newBuilder()
                .setEntropy(ByteString.copyFrom(entropy))
                .setRealtimeNs(now.getEpochSecond() * 1_000_000_000L + now.getNano())
                .build(),
            AdoptIdentityResponse.parser(),
            callTimeout)
        .getBootId();
  }

  public void createSandbox(CreateSandboxRequest req) {
    call("CreateSandbox", req, Empty.parser(), callTimeout);
  }

  public void destroySandbox() {
    call(
        "DestroySandbox",
        DestroySandboxRequest.getDefaultInstance(),
        Empty.parser(),
        shutdownTimeout);
  }

  public void updateInterface(UpdateInterfaceRequest req) {
    call("UpdateInterface", req, Empty.parser(), callTimeout);
  }

  public void updateRoutes(UpdateRoutesRequest req) {
    call("UpdateRoutes", req, Empty.parser(), callTimeout);
  }

  /**
   * @param timeout the runtime config's {@code create_container_timeout}
   */
  public void createContainer(CreateContainerRequest req, Duration timeout) {
    call("CreateContainer", req, Empty.parser(), timeout);
  }

  public int startContainer(String containerId) {
    return call(
            "StartContainer", container(containerId), StartContainerResponse.parser(), callTimeout)
        .getPid();
  }

  public void removeContainer(String containerId) {
    call("RemoveContainer", container(containerId), Empty.parser(), callTimeout);
  }

  public void pauseContainer(String containerId) {
    call("PauseContainer", container(containerId), Empty.parser(), callTimeout);
  }

  public void resumeContainer(String containerId) {
    call("ResumeContainer", container(containerId), Empty.parser(), callTimeout);
  }

  public StatsContainerResponse stats(String containerId) {
    return call(
        "StatsContainer", container(containerId), StatsContainerResponse.parser(), callTimeout);
  }

  public ListProcessesResponse listProcesses(String containerId) {
    return call(
        "ListProcesses", container(containerId), ListProcessesResponse.parser(), callTimeout);
  }

  public void updateContainer(String containerId, byte[] resourcesJson) {
    call(
        "UpdateContainer",
        UpdateContainerRequest.newBuilder()
            .setContainerId(containerId)
            .setResourcesJson(ByteString.copyFrom(resourcesJson))
            .build(),
        Empty.parser(),
        callTimeout);
  }

  public int execProcess(ExecProcessRequest req) {
    return call("ExecProcess", req, ExecProcessResponse.parser(), callTimeout).getPid();
  }

  public void signal(String containerId, String execId, int signal, boolean all) {
    call(
        "SignalProcess",
        SignalProcessRequest.newBuilder()
            .setContainerId(containerId)
            .setExecId(execId)
            .setSignal(signal)
            .setAll(all)
            .build(),
        Empty.parser(),
        callTimeout);
  }

  /** Blocks until the process exits; returns its exit code or 128+signal. */
  public int waitProcess(String containerId, String execId) {
    return call(
            "WaitProcess", process(containerId, execId), WaitProcessResponse.parser(), NO_DEADLINE)
        .getStatus();
  }

  public int writeStdin(String containerId, String execId, byte[] data, int off, int len) {
    return call(
            "WriteStdin",
            WriteStdinRequest.newBuilder()
                .setContainerId(containerId)
                .setExecId(execId)
                .setData(ByteString.copyFrom(data, off, len))
                .build(),
            WriteStdinResponse.parser(),
            callTimeout)
        .getWritten();
  }

  public void closeStdin(String containerId, String execId) {
    call("CloseStdin", process(containerId, execId), Empty.parser(), callTimeout);
  }

  /** Blocks until output is there; an empty result with eof set means the stream ended. */
  public ReadStreamResponse readStdout(String containerId, String execId, int maxBytes) {
    return call(
        "ReadStdout",
        read(containerId, execId, maxBytes),
        ReadStreamResponse.parser(),
        NO_DEADLINE);
  }

  public ReadStreamResponse readStderr(String containerId, String execId, int maxBytes) {
    return call(
        "ReadStderr",
        read(containerId, execId, maxBytes),
        ReadStreamResponse.parser(),
        NO_DEADLINE);
  }

  public void resizeTerminal(String containerId, String execId, int rows, int columns) {
    call(
        "ResizeTerminal",
        ResizeTerminalRequest.newBuilder()
            .setContainerId(containerId)
            .setExecId(execId)
            .setRows(rows)
            .setColumns(columns)
            .build(),
        Empty.parser(),
        callTimeout);
  }

  /** Blocks until a container in the guest is OOM-killed. */
  public OOMEvent nextOomEvent() {
    return call(
        "GetOOMEvent", GetOOMEventRequest.getDefaultInstance(), OOMEvent.parser(), NO_DEADLINE);
  }

  /**
   * Connects to {@code port} on the guest's loopback (the pod's); the connection's id. UNAVAILABLE
   * when nothing listens there.
   */
  public String portForwardOpen(int port) {
    return call(
            "PortForwardOpen",
            PortForwardOpenRequest.newBuilder().setPort(port).build(),
            PortForwardOpenResponse.parser(),
            Duration.ofSeconds(15))
        .getId();
  }

  /** Sends bytes on a forwarded connection; {@code len == 0} shuts its write side down. */
  public void portForwardWrite(String id, byte[] data, int off, int len) {
    call(
        "PortForwardWrite",
        PortForwardWriteRequest.newBuilder()
            .setId(id)
            .setData(ByteString.copyFrom(data, off, len))
            .build(),
        Empty.parser(),
        callTimeout);
  }

  /** Blocks until the connection has bytes; an empty result with eof set means it ended. */
  public ReadStreamResponse portForwardRead(String id, int maxBytes) {
    return call(
        "PortForwardRead",
        PortForwardReadRequest.newBuilder().setId(id).setMaxBytes(maxBytes).build(),
        ReadStreamResponse.parser(),
        NO_DEADLINE);
  }

  /** Closes a forwarded connection; its blocked read returns EOF. */
  public void portForwardClose(String id) {
    call(
        "PortForwardClose",
        PortForwardRequest.newBuilder().setId(id).build(),
        Empty.parser(),
        callTimeout);
  }

  private static ContainerRequest container(String id) {
    return ContainerRequest.newBuilder().setContainerId(id).build();
  }

  private static ProcessRequest process(String id, String execId) {
    return ProcessRequest.newBuilder().setContainerId(id).setExecId(execId).build();
  }

  private static ReadStreamRequest read(String id, String execId, int maxBytes) {
    return ReadStreamRequest.newBuilder()
        .setContainerId(id)
        .setExecId(execId)
        .setMaxBytes(maxBytes)
        .build();
  }

  @Override
  public void close() {
    ttrpc.close();
  }
}
