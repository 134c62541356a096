package dev.kataoperator.installer.cri;

import dev.kataoperator.installer.cri.v1.StatusRequest;
import dev.kataoperator.installer.cri.v1.StatusResponse;
import dev.kataoperator.installer.cri.v1.VersionRequest;
import dev.kataoperator.installer.cri.v1.VersionResponse;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * containerd's CRI runtime service over its unix socket: the two calls the installer needs, {@code
 * Version} (who serves here, which release) and {@code Status} with {@code verbose} (whether the
 * runtime is ready, and its config with every runtime handler). No crictl in the image: this is
 * gRPC from Java, on Netty's epoll transport.
 */
public final class CriClient implements AutoCloseable {
  private static final String SERVICE = "runtime.v1.RuntimeService";

  static final MethodDescriptor<VersionRequest, VersionResponse> VERSION =
      MethodDescriptor.<VersionRequest, VersionResponse>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Version"))
          .setRequestMarshaller(ProtoUtils.marshaller(VersionRequest.getDefaultInstance()))
          .setResponseMarshaller(ProtoUtils.marshaller(VersionResponse.getDefaultInstance()))
          .build();

  static final MethodDescriptor<StatusRequest, StatusResponse> STATUS =
      MethodDescriptor.<StatusRequest, StatusResponse>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Status"))
          .setRequestMarshaller(ProtoUtils.marshaller(StatusRequest.getDefaultInstance()))
          .setResponseMarshaller(ProtoUtils.marshaller(StatusResponse.getDefaultInstance()))
          .build();

  /** The CRI API version the installer speaks (runtime.v1). */
  static final String API_VERSION = "v1";

  private final Path socket;
  private final ManagedChannel channel;

  private CriClient(Path socket, ManagedChannel channel) {
    this.socket = socket;
    this.channel = channel;
  }

  /** A client for the socket at {@code socket} (a path here); connects on the first call. */
  public static CriClient open(Path socket) {
    ManagedChannel ch =
        Grpc.newChannelBuilder(
                "unix://" + socket.toAbsolutePath(), InsecureChannelCredentials.create())
            .build();
    return new CriClient(socket, ch);
  }

  public VersionResponse version(Duration timeout) throws CriException {
    return call(VERSION, VersionRequest.newBuilder().setVersion(API_VERSION).build(), timeout);
  }

  public StatusResponse status(Duration timeout) throws CriException {
    return call(STATUS, StatusRequest.newBuilder().setVerbose(true).build(), timeout);
  }

  private <Q, R> R call(MethodDescriptor<Q, R> method, Q request, Duration timeout)
      throws CriException {
    try {
      return ClientCalls.blockingUnaryCall(
          channel,
          method,
          CallOptions.DEFAULT.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS),
          request);
    } catch (StatusRuntimeException e) {
      throw new CriException(
          socket,
          method.getBareMethodName(),
          e.getStatus().getCode().name(),
          e.getStatus().getDescription());
    }
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
