package dev.kataoperator.operator.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonClassDescription;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * Puts Kata Containers on the selected nodes of a cluster. Cluster-scoped; one per cluster (a
 * second one is refused in its status).
 */
@Group(KataConfig.GROUP)
@Version(KataConfig.VERSION)
@ShortNames("kc")
@JsonClassDescription(
    "KataConfig installs Kata Containers on the selected nodes of the cluster and publishes"
        + " RuntimeClasses for it. Cluster-scoped; only one KataConfig per cluster is acted on.")
@AdditionalPrinterColumn(
    name = "Ready",
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Nodes",
    jsonPath = ".status.selectedNodes",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Installed",
    jsonPath = ".status.installedNodes",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Age",
    jsonPath = ".metadata.creationTimestamp",
    type = AdditionalPrinterColumn.Type.DATE)
public class KataConfig extends CustomResource<KataConfigSpec, KataConfigStatus> {
  public static final String GROUP = "kataoperator.dev";
  public static final String VERSION = "v1alpha1";

  /**
   * No spec unless one is set: java-operator-sdk applies a fresh instance with only a finalizer
   * (server-side apply), and a defaulted spec in it would overwrite the user's.
   */
  @Override
  protected KataConfigSpec initSpec() {
    return null;
  }

  @Override
  protected KataConfigStatus initStatus() {
    return null;
  }
}
