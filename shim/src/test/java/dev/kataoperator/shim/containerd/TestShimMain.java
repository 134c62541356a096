package dev.kataoperator.shim.containerd;

import java.nio.file.Files;

/**
 * TEST ONLY: a shim binary whose backend runs processes on the host ({@link HostTestBackend}), to
 * drive ShimMain and TaskService from a real containerd. Its cleanup hook (containerd's delete)
 * leaves a marker file next to the bundle so the test can see it ran.
 */
public final class TestShimMain {
  private TestShimMain() {}

  public static void main(String[] args) {
    System.exit(
        ShimMain.run(
            args,
            new ShimHooks() {
              @Override
              public TaskBackend newBackend(ShimContext context) {
                return new HostTestBackend();
              }

              @Override
              public void cleanup(ShimContext context) throws Exception {
                String marker = System.getenv("KATA_TEST_CLEANUP_DIR");
                if (marker != null) {
                  Files.writeString(
                      java.nio.file.Path.of(marker, "cleanup-" + context.id()),
                      context.namespace() + " " + context.bundle());
                }
              }
            }));
  }
}
