package dev.kataoperator.shim.pod;

import com.google.protobuf.Empty;
import dev.kataoperator.agent.v1.ContainerRequest;
import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.agent.v1.CreateSandboxRequest;
import dev.kataoperator.agent.v1.DestroySandboxRequest;
import dev.kataoperator.agent.v1.ExecProcessRequest;
import dev.kataoperator.agent.v1.ExecProcessResponse;
import dev.kataoperator.agent.v1.GetOOMEventRequest;
import dev.kataoperator.agent.v1.HealthRequest;
import dev.kataoperator.agent.v1.HealthResponse;
import dev.kataoperator.agent.v1.OOMEvent;
import dev.kataoperator.agent.v1.ProcessRequest;
import dev.kataoperator.agent.v1.ReadStreamRequest;
import dev.kataoperator.agent.v1.ReadStreamResponse;
import dev.kataoperator.agent.v1.SignalProcessRequest;
import dev.kataoperator.agent.v1.StartContainerResponse;
import dev.kataoperator.agent.v1.WaitProcessResponse;
import dev.kataoperator.shim.hypervisor.Hypervisor;
import dev.kataoperator.shim.hypervisor.Vm;
import dev.kataoperator.shim.hypervisor.VmConfig;
import dev.kataoperator.shim.ttrpc.Code;
import dev.kataoperator.shim.ttrpc.TtrpcException;
import dev.kataoperator.shim.ttrpc.TtrpcServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * TEST ONLY: a hypervisor whose "VM" is the guest agent's ttrpc service served in this JVM on the
 * VM's agent socket, so that the pod's logic runs against the real agent protocol and client
 * without QEMU. It keeps what the guest was asked (sandbox, containers with their specs), can be
 * told to fail a container's creation, and its VM can die ({@link GuestVm#crash}).
 */
final class InProcessGuest implements Hypervisor {
  static final String SERVICE = "kataagent.v1.Agent";
  static final long QEMU_PID = 4242;

  /** Every VM launched, in order. */
  final List<GuestVm> vms = new CopyOnWriteArrayList<>();

  /** Container ids whose CreateContainer fails (as a guest that cannot run them would). */
  final Map<String, String> failCreate = new ConcurrentHashMap<>();

  /** Agent methods that never answer (a wedged agent), until the VM dies. */
  final java.util.Set<String> wedged = ConcurrentHashMap.newKeySet();

  @Override
  public String name() {
    return "in-process";
  }

  @Override
  public Vm launch(VmConfig config) {
    var vm = new GuestVm(config);
    vms.add(vm);
    return vm;
  }

  GuestVm onlyVm() {
    if (vms.size() != 1) {
      throw new AssertionError("expected one VM, launched " + vms.size());
    }
    return vms.getFirst();
  }

  /** One "VM": the agent service on its socket. */
  final class GuestVm implements Vm {
    final VmConfig config;
    final CompletableFuture<Integer> exited = new CompletableFuture<>();
    final List<CreateSandboxRequest> sandboxes = new CopyOnWriteArrayList<>();
    final Map<String, CreateContainerRequest> created = new ConcurrentHashMap<>();
    final List<String> removed = new CopyOnWriteArrayList<>();
    final BlockingQueue<String> oomEvents = new LinkedBlockingQueue<>();
    final java.util.concurrent.atomic.AtomicInteger stops =
        new java.util.concurrent.atomic.AtomicInteger();
    volatile boolean destroyed;
    private final java.util.concurrent.CountDownLatch dead =
        new java.util.concurrent.CountDownLatch(1);
    private final Map<String, CompletableFuture<Integer>> exits = new ConcurrentHashMap<>();
    private final TtrpcServer agent = new TtrpcServer();
    private final Path socket;

    GuestVm(VmConfig config) {
      this.config = config;
      this.socket = config.runDir().resolve("agent.sock");
      serve();
      try {
        agent.start(socket);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    private CompletableFuture<Integer> exitOf(String containerId, String execId) {
      return exits.computeIfAbsent(containerId + "/" + execId, k -> new CompletableFuture<>());
    }

    /** Registers {@code method}; a wedged one blocks until the VM dies, whatever it was asked. */
    private <Q> GuestVm on(
        String method, com.google.protobuf.Parser<Q> parser, TtrpcServer.UnaryHandler<Q> h) {
      agent.register(
          SERVICE,
          method,
          parser,
          (r, c) -> {
            if (wedged.contains(method)) {
              dead.await();
              throw new TtrpcException(Code.UNAVAILABLE, "the VM is gone");
            }
            return h.handle(r, c);
          });
      return this;
    }

    private void serve() {
      this.on(
              "Health",
              HealthRequest.parser(),
              (r, c) -> HealthResponse.newBuilder().setKernelRelease("in-process").build())
          .on(
              "CreateSandbox",
              CreateSandboxRequest.parser(),
              (r, c) -> {
                sandboxes.add(r);
                return Empty.getDefaultInstance();
              })
          .on(
              "DestroySandbox",
              DestroySandboxRequest.parser(),
              (r, c) -> {
                destroyed = true;
                // The guest powers off once it has answered.
                Thread.ofVirtual().start(() -> exit(0));
                return Empty.getDefaultInstance();
              })
          .on(
              "CreateContainer",
              CreateContainerRequest.parser(),
              (r, c) -> {
                String failure = failCreate.get(r.getContainerId());
                if (failure != null) {
                  throw new TtrpcException(Code.INVALID_ARGUMENT, failure);
                }
                created.put(r.getContainerId(), r);
                return Empty.getDefaultInstance();
              })
          .on(
              "StartContainer",
              ContainerRequest.parser(),
              (r, c) -> StartContainerResponse.newBuilder().setPid(1).build())
          .on(
              "ExecProcess",
              ExecProcessRequest.parser(),
              (r, c) -> ExecProcessResponse.newBuilder().setPid(2).build())
          .on(
              "SignalProcess",
              SignalProcessRequest.parser(),
              (r, c) -> {
                exitOf(r.getContainerId(), r.getExecId()).complete(128 + r.getSignal());
                return Empty.getDefaultInstance();
              })
          .on(
              "WaitProcess",
              ProcessRequest.parser(),
              (r, c) ->
                  WaitProcessResponse.newBuilder()
                      .setStatus(exitOf(r.getContainerId(), r.getExecId()).get())
                      .build())
          .on(
              "RemoveContainer",
              ContainerRequest.parser(),
              (r, c) -> {
                removed.add(r.getContainerId());
                return Empty.getDefaultInstance();
              })
          .on("ReadStdout", ReadStreamRequest.parser(), (r, c) -> eof())
          .on("ReadStderr", ReadStreamRequest.parser(), (r, c) -> eof())
          .on(
              "GetOOMEvent",
              GetOOMEventRequest.parser(),
              (r, c) -> OOMEvent.newBuilder().setContainerId(oomEvents.take()).build());
    }

    private static ReadStreamResponse eof() {
      return ReadStreamResponse.newBuilder().setEof(true).build();
    }

    /** The VM dies: its agent connection drops and the hypervisor exits with {@code code}. */
    void crash(int code) {
      exit(code);
    }

    private void exit(int code) {
      // A VM's death drops its connections at once, pending calls included.
      dead.countDown();
      agent.shutdown(Duration.ZERO);
      exited.complete(code);
    }

    @Override
    public Path agentSocket() {
      return socket;
    }

    @Override
    public List<Long> pids() {
      return List.of(QEMU_PID);
    }

    @Override
    public CompletableFuture<Integer> exited() {
      return exited;
    }

    @Override
    public String consoleTail(int lines) {
      return "in-process guest";
    }

    @Override
    public void stop(Duration grace) {
      // Powered off within the grace, or killed after it.
      if (!exited.isDone()) {
        try {
          exited.get(grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (Exception e) {
          exit(137);
        }
      }
      stops.incrementAndGet();
    }
  }
}
