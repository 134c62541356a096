package dev.kataoperator.shim.pod;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.shim.containerd.ShimContext;
import dev.kataoperator.shim.containerd.TaskBackend;
import dev.kataoperator.shim.containerd.api.types.Mount;
import dev.kataoperator.shim.errors.ShimException.Kind;
import dev.kataoperator.shim.sandbox.Ids;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.sandbox.SandboxException;
import dev.kataoperator.shim.sandbox.Timeline;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The shim's backend: one pod = one VM. The first container created (the CRI sandbox container, or
 * the only container of a {@code ctr run}) boots the VM ({@link Pod}); every container's rootfs and
 * bind mounts are bound into the pod's share directory, which the guest sees at {@link
 * Sandbox#GUEST_SHARED_DIR}. The task service keeps the process table; this returns the handles.
 */
public final class PodBackend implements TaskBackend {
  private final Pod pod;

  /** Containers created and not yet deleted, to know when a failed create leaves the pod empty. */
  private final Set<String> live = ConcurrentHashMap.newKeySet();

  public PodBackend(ShimContext context) {
    this(context, NodeHost.INSTANCE);
  }

  PodBackend(ShimContext context, PodHost host) {
    this.pod = new Pod(context, host);
  }

  @Override
  public Container create(CreateRequest req) throws Exception {
    Ids.requireValid("container id", req.containerId());
    pod.timeline().mark(Timeline.CREATE_REQUESTED, req.containerId());
    if (!req.checkpoint().isEmpty()) {
      throw new SandboxException(
          Kind.UNIMPLEMENTED, "checkpoint/restore is not supported by kata-qemu");
    }
    ObjectNode spec = PodSpec.read(req.bundle());
    PodSpec.refuseHostNamespaces(spec);
    GuestSpec.refuseBidirectionalPropagation(spec);
    PodSpec podSpec = PodSpec.of(spec, pod.id());
    // The spec is read in full before anything is done on the node: a bad one boots no VM.
    Path binds = PodContainer.bindsOf(pod, req.containerId());
    String guestShare = Sandbox.GUEST_SHARED_DIR + "/" + req.containerId();
    var adapted = GuestSpec.adapt(spec, binds.resolve("mounts"), guestShare + "/mounts");
    Path rootfs = req.bundle().resolve("rootfs");
    boolean mounted = mountRootfs(pod.host(), req.rootfs(), rootfs);
    try {
      Sandbox sb = pod.ensureBooted(podSpec, PodSpec.configPath(req.options()));
      pod.host().bind(rootfs, binds.resolve("rootfs"), false, pod.stagingDir());
      for (var s : adapted.shares()) {
        pod.host().bind(s.hostSource(), s.shareTarget(), s.readOnly(), pod.stagingDir());
      }
      sb.createContainer(
          CreateContainerRequest.newBuilder()
              .setContainerId(req.containerId())
              .setOciSpecJson(ByteString.copyFrom(PodSpec.JSON.writeValueAsBytes(adapted.spec())))
              .setRootfsPath(guestShare + "/rootfs")
              .setTerminal(req.io().terminal())
              .setStdin(req.io().stdin().isPresent())
              .build());
      String id = req.containerId();
      pod.timeline().mark(Timeline.CREATED, id);
      live.add(id);
      return new PodContainer(pod, id, req.bundle(), mounted, req.io(), () -> live.remove(id));
    } catch (Exception | Error e) {
      // Undo exactly what this create did; the first container takes the pod down with it.
      PodContainer.unmount(pod, req.containerId(), req.bundle(), mounted);
      if (live.isEmpty()) {
        pod.close();
      }
      throw e;
    }
  }

  /** Mounts containerd's rootfs mounts at the bundle's rootfs, as the runc shim does. */
  private static boolean mountRootfs(PodHost host, List<Mount> mounts, Path rootfs)
      throws IOException {
    if (mounts.isEmpty()) {
      if (!Files.isDirectory(rootfs)) {
        throw new IllegalArgumentException("no rootfs mounts and no " + rootfs);
      }
      return false;
    }
    Files.createDirectories(rootfs);
    for (Mount m : mounts) {
      host.mount(m.getType(), m.getSource(), rootfs, m.getOptionsList());
    }
    return true;
  }

  @Override
  public void shutdown() {
    pod.close();
  }

  @Override
  public void onOom(Consumer<String> listener) {
    // Only the pod's own live containers: the guest may name anything.
    pod.onOom(new OomEvents(live::contains, listener));
  }
}
