package dev.kataoperator.shim.pod;

import com.google.protobuf.Any;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.containerd.TaskBackend;
import dev.kataoperator.shim.containerd.io.ProcessIo;
import dev.kataoperator.shim.sandbox.Ids;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.sandbox.Timeline;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A container in the pod's VM: its rootfs (mounted at the bundle when containerd gave mounts) and
 * volumes bound into the pod's share, and the container the agent created from its spec.
 */
final class PodContainer implements TaskBackend.Container {
  private static final System.Logger LOG = System.getLogger(PodContainer.class.getName());

  private final Pod pod;
  private final String id;
  private final Path bundle;
  private final boolean mountedRootfs;
  private final PodProcess init;
  private final Runnable onRemoved;

  PodContainer(
      Pod pod, String id, Path bundle, boolean mountedRootfs, ProcessIo io, Runnable onRemoved) {
    this.pod = pod;
    this.id = id;
    this.bundle = bundle;
    this.mountedRootfs = mountedRootfs;
    this.init = new PodProcess(pod, this, "", io, null);
    this.onRemoved = onRemoved;
  }

  String id() {
    return id;
  }

  /**
   * The host-only directory of the container's binds (its rootfs, its volumes); the guest sees it,
   * read-only, as its share directory.
   */
  static Path bindsOf(Pod pod, String containerId) {
    return pod.bindsDir().resolve(Ids.requireValid("container id", containerId));
  }

  @Override
  public TaskBackend.Process init() {
    return init;
  }

  @Override
  public TaskBackend.Process exec(String execId, ProcessIo io, Any processSpec) {
    Ids.requireValid("exec id", execId);
    return new PodProcess(pod, this, execId, io, processSpec);
  }

  @Override
  public List<Integer> pids() {
    return pod.running().agent().listProcesses(id).getPidsList();
  }

  @Override
  public Any stats() {
    return GuestMetrics.toContainerd(pod.running().agent().stats(id));
  }

  @Override
  public void update(Any resources, Map<String, String> annotations) {
    pod.running().agent().updateContainer(id, resources.getValue().toByteArray());
  }

  @Override
  public void pause() {
    pod.running().agent().pauseContainer(id);
  }

  @Override
  public void resume() {
    pod.running().agent().resumeContainer(id);
  }

  /** The init process was deleted: the container goes from the guest and the host. */
  void remove() {
    Sandbox sb = pod.sandbox();
    try {
      if (!Pod.gone(sb)) {
        sb.agent().removeContainer(id);
      }
    } catch (AgentException e) {
      LOG.log(Level.WARNING, "remove " + id + " in the guest: " + e.getMessage());
    } finally {
      unmount(pod, id, bundle, mountedRootfs);
      pod.timeline().mark(Timeline.DELETED, id);
      onRemoved.run();
    }
  }

  /** Undoes what creating container {@code id} did on the host. */
  static void unmount(Pod pod, String id, Path bundle, boolean mountedRootfs) {
    pod.removeBinds(id);
    if (mountedRootfs) {
      pod.host().unmountAllUnder(bundle.resolve("rootfs"));
    }
  }
}
