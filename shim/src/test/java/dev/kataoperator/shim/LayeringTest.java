package dev.kataoperator.shim;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The shim's package layering (docs/architecture.md, "Inside the shim module"): each package is
 * used only by the packages above it, so there are no cycles and no upward imports. A new
 * dependency that breaks this fails here, naming the classes involved.
 */
@Tag("unit")
class LayeringTest {
  private static final String ROOT = "dev.kataoperator.shim";

  @Test
  void packagesDependOnlyDownwards() {
    JavaClasses shim =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages(ROOT);
    layeredArchitecture()
        .consideringOnlyDependenciesInAnyPackage(ROOT + "..")
        .layer("cli")
        .definedBy(ROOT + ".cli..")
        .layer("pod")
        .definedBy(ROOT + ".pod..")
        .layer("containerd")
        .definedBy(ROOT + ".containerd..")
        .layer("network")
        .definedBy(ROOT + ".network..")
        .layer("sandbox")
        .definedBy(ROOT + ".sandbox..")
        .layer("config")
        .definedBy(ROOT + ".config..")
        .layer("hypervisor")
        .definedBy(ROOT + ".hypervisor..")
        .layer("agent")
        .definedBy(ROOT + ".agent..")
        .layer("ttrpc")
        .definedBy(ROOT + ".ttrpc..")
        .layer("errors")
        .definedBy(ROOT + ".errors..")
        .layer("host")
        .definedBy(ROOT + ".host..")
        .whereLayer("cli")
        .mayNotBeAccessedByAnyLayer()
        .whereLayer("pod")
        .mayNotBeAccessedByAnyLayer()
        .whereLayer("containerd")
        .mayOnlyBeAccessedByLayers("pod")
        .whereLayer("network")
        .mayOnlyBeAccessedByLayers("pod")
        .whereLayer("sandbox")
        .mayOnlyBeAccessedByLayers("pod", "cli")
        .whereLayer("config")
        .mayOnlyBeAccessedByLayers("pod", "cli", "sandbox")
        .whereLayer("hypervisor")
        .mayOnlyBeAccessedByLayers("pod", "cli", "sandbox", "config", "network")
        .whereLayer("agent")
        .mayOnlyBeAccessedByLayers("pod", "cli", "sandbox", "network")
        .whereLayer("ttrpc")
        .mayOnlyBeAccessedByLayers("containerd", "agent")
        .whereLayer("host")
        .mayOnlyBeAccessedByLayers("containerd", "pod", "network")
        .check(shim);
  }
}
