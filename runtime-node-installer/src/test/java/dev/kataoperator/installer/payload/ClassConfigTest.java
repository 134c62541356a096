package dev.kataoperator.installer.payload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kataoperator.contract.Hypervisor;
import dev.kataoperator.installer.payload.ClassConfig.Accel;
import dev.kataoperator.testsupport.Containerd;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;

/** Each runtime class's shim config, from the payload's real template. */
class ClassConfigTest {
  static String template() throws Exception {
    return Files.readString(Containerd.repoRoot().resolve("shim/payload/kata-qemu.toml"));
  }

  static TomlParseResult parse(String s) {
    TomlParseResult r = Toml.parse(s);
    assertTrue(r.errors().isEmpty(), r.errors().toString());
    return r;
  }

  @Test
  void theAcceleratorIsWrittenOutNeverAuto() throws Exception {
    String t = template();
    assertTrue(t.contains("accel = \"auto\""), "the template this test is about");
    for (Accel a : Accel.values()) {
      String out = new ClassConfig("kata-qemu", Hypervisor.qemu, a, false, "because").render(t);
      var r = parse(out);
      assertEquals(a.name(), r.getString(List.of("hypervisor", "accel")));
      assertTrue(out.startsWith("# Runtime class kata-qemu: written by"), out);
      assertTrue(out.contains("# accel = \"" + a.name() + "\": because\n"), out);
      // Everything else is the template's, relative paths included.
      var tr = parse(t);
      for (String key : List.of("path", "kernel", "initrd", "virtiofsd", "shared_fs")) {
        assertEquals(tr.get(List.of("hypervisor", key)), r.get(List.of("hypervisor", key)), key);
      }
      assertEquals(
          t.replace("accel = \"auto\"", "accel = \"" + a.name() + "\""),
          out.substring(out.indexOf("# kata-qemu runtime class")),
          "only the accel line differs");
    }
  }

  @Test
  void debugFollowsTheLogLevel() throws Exception {
    var r =
        parse(
            new ClassConfig("kata-x", Hypervisor.qemu, Accel.kvm, true, "kvm").render(template()));
    assertTrue(r.getBoolean(List.of("runtime", "debug")));
    var r2 =
        parse(
            new ClassConfig("kata-x", Hypervisor.qemu, Accel.kvm, false, "kvm").render(template()));
    assertEquals(false, r2.getBoolean(List.of("runtime", "debug")));
    // A template without [runtime] gets one when debug is on.
    String bare = "[hypervisor]\npath = \"q\"\n";
    var r3 = parse(new ClassConfig("kata-x", Hypervisor.qemu, Accel.tcg, true, "x").render(bare));
    assertEquals("tcg", r3.getString(List.of("hypervisor", "accel")), "added under its table");
    assertTrue(r3.getBoolean(List.of("runtime", "debug")));
  }

  @Test
  void aTemplateWithoutAHypervisorTableIsRefused() {
    var e =
        assertThrows(
            PayloadException.class,
            () -> new ClassConfig("k", Hypervisor.qemu, Accel.kvm, false, "x").render("[agent]\n"));
    assertEquals(PayloadException.Kind.BAD_TEMPLATE, e.kind());
  }
}
