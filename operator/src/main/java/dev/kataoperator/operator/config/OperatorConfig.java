package dev.kataoperator.operator.config;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import java.time.Duration;

/** The operator's own settings (application.properties, env KATA_OPERATOR_*). */
@ConfigMapping(prefix = "kata-operator")
public interface OperatorConfig {

  /**
   * Installer image used when a KataConfig names none. Set in application.properties (the image
   * tagged with this operator's version) and by the Helm chart.
   */
  String defaultInstallerImage();

  /** How often a refused (second) KataConfig checks whether it may take over. */
  @WithDefault("15s")
  Duration refusedRecheck();

  /** How often deletion rechecks pods and node reports while it waits. */
  @WithDefault("5s")
  Duration uninstallRecheck();

  /** Namespace for Events about the (cluster-scoped) KataConfig, as kubectl expects. */
  @WithDefault("default")
  String eventNamespace();
}
