package dev.kataoperator.e2e;

import dev.kataoperator.testsupport.Containerd;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;

/** containerd 2.2.7 from the Go module proxy: JSON bootstrap, task v3. */
@Tag("vm")
class ContainerdV22ShimTest extends ContainerdShimTest {
  @BeforeAll
  static void start() throws Exception {
    startContainerd(Containerd.Version.V2_2);
  }
}
