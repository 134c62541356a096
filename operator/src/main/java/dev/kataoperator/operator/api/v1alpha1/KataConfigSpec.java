package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonClassDescription;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import dev.kataoperator.contract.LogLevel;
import dev.kataoperator.contract.PodOverhead;
import dev.kataoperator.contract.VirtualizationPolicy;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.ArrayList;
import java.util.List;

/** What to install, where, and how. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonClassDescription("What to install on which nodes, and how: the desired state.")
public class KataConfigSpec {

  @JsonPropertyDescription(
      "Nodes to install Kata on. Empty or absent selects every Linux node"
          + " (kubernetes.io/os=linux is always required). Changing it moves the installer"
          + " DaemonSet; nodes that stop being selected are reverted by their installer.")
  public LabelSelector nodeSelector;

  @JsonPropertyDescription(
      "Tolerations for the installer pods, so that it also runs on tainted nodes (for example"
          + " dedicated sandbox nodes). The RuntimeClasses do not add them to user pods.")
  public List<Toleration> tolerations = new ArrayList<>();

  @JsonPropertyDescription("The runtime-node-installer: image, pull policy and pull secrets.")
  @Default("{}")
  public InstallerSpec installer = new InstallerSpec();

  @JsonPropertyDescription(
      "RuntimeClasses to install and publish. Each is published only while at least one"
          + " selected node reports it installed; its handler is its name. The class marked"
          + " default is also published as 'kata'.")
  @Size(min = 1, max = 8)
  @ValidationRule(
      value = "self.all(c, self.exists_one(d, d.name == c.name))",
      message = "runtimeClasses names must be unique")
  @ValidationRule(
      value = "self.filter(c, has(c.default) && c.default).size() <= 1",
      message = "at most one runtime class may be the default")
  @Default(
      "[{\"name\":\"kata-qemu\",\"hypervisor\":\"qemu\",\"default\":true,"
          + "\"overhead\":{\"cpu\":\""
          + PodOverhead.CPU
          + "\",\"memory\":\""
          + PodOverhead.MEMORY
          + "\"}}]")
  public List<RuntimeClassSpec> runtimeClasses;

  @JsonPropertyDescription(
      "RequireHardware: install only where the node has hardware or nested virtualization"
          + " (KVM). AllowSoftwareEmulation: also install where it has none and run the VMs"
          + " under QEMU's software emulation (TCG): slow, but it works anywhere. Never chosen"
          + " silently.")
  @Default("RequireHardware")
  public VirtualizationPolicy virtualization = VirtualizationPolicy.RequireHardware;

  @JsonPropertyDescription("How the installer finds, edits and restarts containerd.")
  @Default("{}")
  public ContainerdSpec containerd = new ContainerdSpec();

  @JsonPropertyDescription("Log level of the installer and of the Kata runtime it configures.")
  @Default("info")
  public LogLevel logLevel = LogLevel.info;

  @JsonPropertyDescription("How installer changes (a new image, new settings) roll over nodes.")
  @Default("{}")
  public RolloutSpec rollout = new RolloutSpec();

  @JsonPropertyDescription("What deleting this KataConfig does.")
  @Default("{}")
  public UninstallSpec uninstall = new UninstallSpec();
}
