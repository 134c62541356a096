package dev.kataoperator.e2e;

import dev.kataoperator.testsupport.Containerd;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

/** Debian's containerd 1.6.20: reads only a plain unix:// address from the shim's start. */
@Tag("vm")
class ContainerdV16ShimTest extends ContainerdShimTest {
  @BeforeAll
  static void start() throws Exception {
    startContainerd(Containerd.Version.V1_6);
  }
}
