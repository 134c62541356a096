package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import dev.kataoperator.contract.Hypervisor;
import dev.kataoperator.contract.PodOverhead;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

/** One RuntimeClass: its name is also its containerd runtime handler. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "!has(self.hypervisor) || self.hypervisor == 'qemu'",
    message =
        "hypervisor firecracker is not supported yet: the shim has only a QEMU backend; use"
            + " hypervisor qemu")
public class RuntimeClassSpec {

  @JsonPropertyDescription(
      "RuntimeClass name and containerd runtime handler, e.g. kata-qemu. 'kata' is reserved for"
          + " the alias of the default class.")
  @Required
  @Size(min = 1, max = 63)
  @Pattern("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
  @ValidationRule(
      value = "self != 'kata' && self != 'runtime-state'",
      message = "'kata' is the default alias and 'runtime-state' a contract label")
  public String name;

  @JsonPropertyDescription(
      "Virtual machine monitor. qemu works everywhere (with KVM, or emulated where allowed);"
          + " firecracker is reserved for a future backend and refused for now.")
  @Default("qemu")
  public Hypervisor hypervisor = Hypervisor.qemu;

  @JsonPropertyDescription(
      "Resources a pod's VM costs beyond its containers; set as the RuntimeClass's"
          + " overhead.podFixed and so counted by the scheduler and quotas.")
  @Default("{}")
  public Overhead overhead = new Overhead();

  @JsonPropertyDescription(
      "Also publish this class as RuntimeClass 'kata'. At most one class may be the default.")
  @JsonProperty("default")
  @Default("false")
  public boolean isDefault;

  public RuntimeClassSpec() {}

  public RuntimeClassSpec(String name, Hypervisor hypervisor, boolean isDefault) {
    this.name = name;
    this.hypervisor = hypervisor;
    this.isDefault = isDefault;
  }

  /** Fixed per-pod overhead. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Overhead {
    @JsonPropertyDescription("CPU overhead per pod, a Kubernetes quantity.")
    @Default(PodOverhead.CPU)
    @Pattern("^([0-9]+m|[0-9]+(\\.[0-9]{1,3})?)$")
    public String cpu = PodOverhead.CPU;

    @JsonPropertyDescription(
        "Memory overhead per pod, a Kubernetes quantity. The default holds the VM: its base"
            + " memory (256 MiB, to which the containers' limits are added) and QEMU's own; a"
            + " smaller one lets the node's OOM killer end pods that stay within their limits.")
    @Default(PodOverhead.MEMORY)
    @Pattern("^[0-9]+(Ki|Mi|Gi|k|M|G)?$")
    public String memory = PodOverhead.MEMORY;

    public Overhead() {}

    public Overhead(String cpu, String memory) {
      this.cpu = cpu;
      this.memory = memory;
    }
  }
}
