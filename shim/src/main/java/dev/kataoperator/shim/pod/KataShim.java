package dev.kataoperator.shim.pod;

import dev.kataoperator.shim.containerd.ShimContext;
import dev.kataoperator.shim.containerd.ShimHooks;
import dev.kataoperator.shim.containerd.ShimMain;
import dev.kataoperator.shim.containerd.TaskBackend;

/** {@code containerd-shim-kata-qemu-v2}: containerd's runtime v2 shim, one JVM per pod. */
public final class KataShim implements ShimHooks {
  private KataShim() {}

  public static void main(String[] args) {
    System.exit(ShimMain.run(args, new KataShim()));
  }

  @Override
  public TaskBackend newBackend(ShimContext context) {
    return new PodBackend(context);
  }

  @Override
  public void cleanup(ShimContext context) {
    Pod.cleanup(context, NodeHost.INSTANCE);
  }
}
